"""A run's answers: which examples it uses, asking a version for the answers it still lacks, scoring them, and
comparing two versions on the same examples. Each part can run again without doing its work twice."""

import random

from datasets.models import Example, Split
from promptopt.errors import PromptOptError

from . import metrics
from .batch_prediction.services import ask_in_batch
from .leases import check_in
from .llm import Request, complete_batch
from .models import Evaluation, Iteration, Prediction
from .prompting import answer_token_budget, messages_for
from .spread import is_constant, spread_of
from .statistics import compare_paired

INFERENCE_CHUNK = 32  # answers asked for between two checks for cancellation and lease renewals


def selected_examples(run, split):
    """At most `examples_per_split` examples of a split, drawn with the run's seed: the same ones every time."""
    ids = list(run.dataset.examples.filter(split=split).order_by("position").values_list("id", flat=True))
    chosen = random.Random(f"{run.seed}:{split}").sample(ids, min(run.examples_per_split, len(ids)))
    return list(Example.objects.filter(id__in=chosen).order_by("position"))


def evaluation_of(run, version, split):
    # A callable default is only evaluated when the row is created, not on every lookup.
    evaluation, _ = Evaluation.objects.get_or_create(
        run=run, version=version, split=split,
        defaults={"iteration": lambda: Iteration.objects.filter(run=run, number=run.iteration).first()},
    )
    return evaluation


def infer(run, version, split, examples=None):
    """Ask for the answers of `version` to the examples of `split` (or those given) it has not answered yet in
    this run."""
    return infer_all(run, [(version, examples)], split)[0]


def infer_all(run, asked, split):
    """`infer` for several (version, examples or None) at once, their evaluations in that order: the answers a
    batch job can bring come in one job for all of them (the run waits for it), the rest are asked online. A
    version given twice (the best that is still the start) is asked once."""
    max_tokens = answer_token_budget(answers_of(run))
    evaluations = [evaluation_of(run, version, split) for version, _ in asked]
    pending = []  # (evaluation, the examples it still lacks, their requests)
    for evaluation, (version, examples) in dict(zip(evaluations, asked)).items():
        examples = selected_examples(run, split) if examples is None else examples
        if not examples:
            raise PromptOptError(f"The dataset has no {split} examples to run on.")
        answered = set(evaluation.predictions.values_list("example_id", flat=True))
        missing = [example for example in examples if example.id not in answered]
        requests = [
            Request(messages_for(version, example.input), temperature=run.temperature, max_tokens=max_tokens)
            for example in missing
        ]
        pending.append((evaluation, missing, requests))
    # Many answers: a batch job, the run waits.
    ask_in_batch(run, [(e, example, request) for e, missing, requests in pending for example, request in
                       zip(missing, requests)])
    for evaluation, missing, requests in pending:
        for start in range(0, len(missing), INFERENCE_CHUNK):
            check_in(run)
            chunk = missing[start : start + INFERENCE_CHUNK]
            completions = complete_batch(
                requests[start : start + INFERENCE_CHUNK],
                provider=run.primary_provider,
                model=run.primary_model,
                run=run,
                iteration=run.iteration,
                purpose="inference",
                use_cache=run.use_cache,
            )
            Prediction.objects.bulk_create(
                [Prediction(evaluation=evaluation, example=e, output=c.text) for e, c in zip(chunk, completions)],
                ignore_conflicts=True,
            )
    return evaluations


def answers_of(run):
    return [example.expected for example in selected_examples(run, Split.TRAIN)]


def score(run, evaluation):
    """Fill the per-example scores of an evaluation and its mean (kept, so scoring again is free)."""
    if evaluation.score is not None:
        return evaluation.score
    predictions = list(evaluation.predictions.select_related("example"))
    if not predictions:
        raise PromptOptError(f"{evaluation.label} has no answers on {evaluation.split} to score.")
    per_example = score_answers(run, predictions)
    for prediction, value in zip(predictions, per_example):
        prediction.score = value
    Prediction.objects.bulk_update(predictions, ["score"])
    evaluation.score = sum(per_example) / len(per_example)
    evaluation.spread = spread_of(
        [p.output for p in predictions], [p.example.expected for p in predictions],
        [p.example.choices for p in predictions], run.metric_options,
    )
    evaluation.constant_answer = is_constant(evaluation.spread)
    evaluation.save(update_fields=["score", "spread", "constant_answer"])
    return evaluation.score


def score_answers(run, predictions):
    try:
        return metrics.score(
            run.metric,
            [p.output for p in predictions],
            [p.example.answers for p in predictions],
            choices=[p.example.choices for p in predictions],
            options=run.metric_options,
        )
    except ValueError as exc:
        raise PromptOptError(f"The metric {run.metric} cannot score these answers: {exc}") from None


def scores_by_example(run, evaluation):
    score(run, evaluation)
    return dict(evaluation.predictions.values_list("example_id", "score"))


def mean(scores):
    return sum(scores.values()) / len(scores)


def compare(run, before, after):
    """`after` − `before`, paired on the same examples."""
    if before.keys() != after.keys():
        raise PromptOptError("The answers of the versions compared are not for the same examples.")
    examples = sorted(after)
    return compare_paired(
        [before[e] for e in examples], [after[e] for e in examples], binary=metrics.is_binary(run.metric),
        seed=run.seed,
    )
