"""The optimization loop, top to bottom.

A run moves through five steps per iteration, then a last comparison on the test split:

    1. primary inference   the current best prompt answers the validation examples
    2. evaluation          those answers are scored, one score per example
    3. optimizer           a strategy proposes new candidate prompts from the scores, failures and history
    4. refined inference   the candidates answer the same validation examples
    5. second evaluation   the candidates are scored, the best is kept, and the loop decides: again, or stop
    then: final test       the starting and the best version answer the held-out test split, the constant-answer
                           baseline is scored beside them, and the best becomes a candidate only if it beats both

Each step reads what it needs from the database and writes what it produced there, so it can run again after
a crash without doing its work twice: inference only asks for the answers still missing (and finished LLM calls
come back from the cache), scoring only fills what is empty, and the step moves on in the same transaction that
records its result. `run_next_step` claims the run with a lease before a step, so two workers never run one run.

The machinery the steps stand on has modules of its own: `answers.py` (which examples, asking for the missing
answers, scoring, comparing), `racing.py` (slices, dropping a candidate behind, the winner), `budget.py` (the
caps) and `leases.py` (claiming a run, renewing the lease, recording a step).
"""

import logging
import random

from django.db import transaction
from django.db.models import Count
from django.template.defaultfilters import pluralize
from django.utils import timezone

from datasets.models import Split
from promptopt.errors import PromptOptError

from . import meta_model
from .answers import (
    compare,
    evaluation_of,
    infer,
    infer_all,
    mean,
    score,
    scores_by_example,
    selected_examples,
)
from .baseline import constant_answer
from .batch_prediction import WaitingForBatchJob
from .budget import budget_left, budget_spent
from .leases import RunCancelled, claim, record
from .llm import LLMError, Request, complete_batch
from .models import Evaluation, Iteration, Prediction, PromptVersion, RunStatus, Step, VersionStatus
from .racing import IMPROVEMENT, pick_winner, race_order, race_round, race_slices
from .strategies import Candidate, Failure, OptimizerError, Situation, StopOptimizing
from .strategies.registry import strategy_for
from .verdict import Side, judge

log = logging.getLogger("promptopt.loop")

FAILURES_SHOWN = 5
OPTIMIZER_TEMPERATURE = 0.7


# ---------------------------------------------------------------------------------------------------------
# The steps


def primary_inference(run):
    """1. The current best prompt answers the validation examples (a no-op when it already has)."""
    stop = budget_spent(run)
    if stop:
        return finish_iterating(run, stop)
    infer(run, run.best_or_start(), Split.VALIDATION)
    return Step.EVALUATION


def evaluation(run):
    """2. Score those answers. Reaching the target before optimizing anything is a result too."""
    best = run.best_or_start()
    run.best_score = score(run, evaluation_of(run, best, Split.VALIDATION))
    run.best_version = best
    if run.best_score >= run.target:
        return finish_iterating(run, f"Target reached: {run.best_score:.3f} ≥ {run.target:.3f}.")
    return Step.OPTIMIZER


def optimizer(run):
    """3. A strategy proposes candidates; they are saved as draft versions of the prompt, made by the run."""
    stop = budget_spent(run)
    if stop:
        return finish_iterating(run, stop)
    iteration, _ = Iteration.objects.get_or_create(
        run=run, number=run.iteration, defaults={"best_score_before": run.best_score}
    )
    if iteration.candidates.exists() or iteration.optimizer_error:
        return Step.REFINED_INFERENCE  # proposed before a crash; the answers are the same from the cache
    situation = situation_for(run)
    try:
        candidates = unseen(strategy_for(run.strategy)(situation), situation)
    except StopOptimizing as exc:  # the policy strategy judged no edit worth its calls
        return finish_iterating(run, exc.message)
    except OptimizerError as exc:
        iteration.optimizer_error = exc.message
        iteration.save(update_fields=["optimizer_error"])
        candidates = []
    predicted = {}
    if run.screen_factor > 1:  # proposed screen_factor times too many: keep those the meta-model predicts best
        candidates, predicted = meta_model.shortlist(run, situation.history, candidates, run.candidates_per_iteration)
    best = run.best_or_start()
    with transaction.atomic():
        for candidate in candidates:
            iteration.candidates.add(
                PromptVersion.objects.create(
                    prompt=best.prompt,
                    system_prompt=candidate.system_prompt,
                    output_instruction=candidate.output_instruction,
                    demonstrations=list(candidate.demonstrations),
                    parent=best,
                    created_by_run=run,
                    launched_by_id=run.created_by_id,
                    note=candidate.note,
                    predicted_score=predicted.get(candidate.key()),
                )
            )
    return Step.REFINED_INFERENCE


def refined_inference(run):
    """4. The candidates answer the same validation examples, within the budget: in a race, a slice at a time
    (the first `race_from` examples, then a quarter more, ...), and a candidate that can no longer beat the best
    so far, or is unlikely to, or that a paired test puts behind the best or the round's leader, answers no
    more."""
    candidates = list(this_iteration(run).candidates.all())
    examples = race_order(run)
    stop = budget_spent(run, upcoming_calls=len(candidates) * len(examples))
    if stop:
        return finish_iterating(run, stop)
    best = scores_by_example(run, evaluation_of(run, run.best_or_start(), Split.VALIDATION))
    racing = [c for c in candidates if not evaluation_of(run, c, Split.VALIDATION).raced_out]
    for size in race_slices(run.race_from, len(examples)):
        infer_all(run, [(candidate, examples[:size]) for candidate in racing], Split.VALIDATION)
        if size < len(examples):
            racing = race_round(run, racing, best, examples[:size], len(examples))
    run.calls_saved = sum(
        len(examples) - e.answered
        for e in Evaluation.objects.filter(run=run, raced_out=True).annotate(answered=Count("predictions"))
    )
    return Step.SECOND_EVALUATION


def second_evaluation(run):
    """5. Score the candidates, keep the best, and decide whether to go round again. Among the candidates that
    answered every example, those a paired test cannot tell from the top one are a tie, won by the shortest."""
    iteration = this_iteration(run)
    finished = [c for c in iteration.candidates.all() if not evaluation_of(run, c, Split.VALIDATION).raced_out]
    winner_score, winner = pick_winner(run, finished)
    iteration.improved = winner is not None and winner_score > run.best_score + IMPROVEMENT
    if iteration.improved:
        run.best_version, run.best_score = winner, winner_score
        run.iterations_without_improvement = 0
    else:
        run.iterations_without_improvement += 1
    iteration.best_score_after = run.best_score
    iteration.finished_at = timezone.now()
    iteration.save(update_fields=["improved", "best_score_after", "finished_at"])

    stop = (
        run.best_score >= run.target and f"Target reached: {run.best_score:.3f} ≥ {run.target:.3f}."
        or run.iterations_without_improvement >= run.patience
        and f"No improvement in {run.patience} iteration{pluralize(run.patience)} (patience spent)."
        or run.iteration >= run.max_iterations
        and f"Reached the limit of {run.max_iterations} iteration{pluralize(run.max_iterations)}."
        or budget_spent(run)
    )
    if stop:
        return finish_iterating(run, stop)
    run.iteration += 1
    return Step.PRIMARY_INFERENCE


def final_test(run):
    """The start, the best version and the constant-answer baseline on the held-out test split, compared example
    by example. The best becomes a candidate only if the verdict (optimization.verdict) offers it."""
    start, best = run.start_version, run.best_or_start()
    infer_all(run, [(start, None), (best, None)], Split.TEST)
    baseline = baseline_evaluations(run)
    start_scores = scores_by_example(run, evaluation_of(run, start, Split.TEST))
    best_scores = scores_by_example(run, evaluation_of(run, best, Split.TEST))
    baseline_scores = scores_by_example(run, baseline[Split.TEST])
    against_start = compare(run, start_scores, best_scores)
    against_baseline = compare(run, baseline_scores, best_scores)
    run.test_start_score = mean(start_scores)
    run.test_best_score = mean(best_scores)
    run.test_delta, run.ci_low, run.ci_high = against_start.delta, against_start.ci_low, against_start.ci_high
    run.p_value = against_start.p_value
    run.baseline_delta, run.baseline_ci_low = against_baseline.delta, against_baseline.ci_low
    run.baseline_ci_high, run.baseline_p_value = against_baseline.ci_high, against_baseline.p_value
    verdict = judge(
        best=f"v{best.number}",
        is_start=best == start,
        examples=len(best_scores),
        best_score=run.test_best_score,
        start=Side(f"the start v{start.number}", run.test_start_score, against_start),
        baseline=Side(f"always answering {baseline[Split.TEST].baseline_answer!r}", mean(baseline_scores),
                      against_baseline),
        constant=constant_words(run, best),
    )
    run.verdict = verdict.words
    if best != start and best.status == VersionStatus.DRAFT:
        if verdict.offered:
            best.status = VersionStatus.CANDIDATE
        best.held_back = "" if verdict.offered else verdict.words
        best.save(update_fields=["status", "held_back"])
    PromptVersion.objects.filter(created_by_run=run, status=VersionStatus.DRAFT, held_back="").exclude(
        pk=best.pk
    ).update(held_back=f"Run #{run.pk} did not pick it: another version scored higher on the validation split.")
    run.status = RunStatus.SUCCEEDED
    run.finished_at = timezone.now()
    return Step.DONE


STEPS = {
    Step.PRIMARY_INFERENCE: primary_inference,
    Step.EVALUATION: evaluation,
    Step.OPTIMIZER: optimizer,
    Step.REFINED_INFERENCE: refined_inference,
    Step.SECOND_EVALUATION: second_evaluation,
    Step.FINAL_TEST: final_test,
}


def finish_iterating(run, reason):
    run.stop_reason = reason
    return Step.FINAL_TEST


# ---------------------------------------------------------------------------------------------------------
# What the steps share


def this_iteration(run):
    return Iteration.objects.get(run=run, number=run.iteration)


def baseline_evaluations(run):
    """The constant answer chosen on the train split, given to every validation and test example and scored like
    any version's answers: no LLM call. Returns {split: evaluation}."""
    train = selected_examples(run, Split.TRAIN)
    try:
        answer = constant_answer(run.metric, run.metric_options, train)
    except ValueError as exc:
        raise PromptOptError(f"The constant-answer baseline cannot be chosen: {exc}") from None
    evaluations = {}
    for split in (Split.VALIDATION, Split.TEST):
        evaluation, _ = Evaluation.objects.get_or_create(
            run=run, version=None, split=split, defaults={"baseline_answer": answer}
        )
        Prediction.objects.bulk_create(
            [Prediction(evaluation=evaluation, example=e, output=evaluation.baseline_answer)
             for e in selected_examples(run, split)],
            ignore_conflicts=True,
        )
        score(run, evaluation)
        evaluations[split] = evaluation
    return evaluations


def constant_words(run, version):
    """How the version gives a constant answer, as part of a sentence, or None when it does not."""
    flagged = {e.split: e for e in Evaluation.objects.filter(run=run, version=version, constant_answer=True)}
    evaluation = flagged.get(Split.TEST) or flagged.get(Split.VALIDATION)
    if evaluation is None:
        return None
    spread = evaluation.spread
    given = round(spread["top_share"] * spread["examples"])
    return (
        f"it answers {spread['top_answer']!r} to {given} of {spread['examples']} {evaluation.split} examples while "
        f"no right answer is more than {spread['right_top_share'] * 100:.0f} % of them: it learned a constant answer, "
        "not the task"
    )


def situation_for(run):
    """What the optimizer sees: the current best, every scored prompt so far, failures, and the train split."""
    best = run.best_or_start()
    scored = (
        Evaluation.objects.filter(run=run, split=Split.VALIDATION, score__isnull=False, version__isnull=False)
        .select_related("version")
        .order_by("score", "version__number")
    )
    rng = random.Random(f"{run.seed}:{run.iteration}")
    answered = list(
        Prediction.objects.filter(evaluation=evaluation_of(run, best, Split.VALIDATION))
        .select_related("example")
        .order_by("example__position")
    )
    wrong = [p for p in answered if p.score is not None and p.score < 1]
    failures = [
        Failure(p.example.input, p.output, p.example.expected)
        for p in rng.sample(wrong, min(FAILURES_SHOWN, len(wrong)))
    ]
    train = selected_examples(run, Split.TRAIN)
    return Situation(
        current=candidate_of(best),
        history=[(candidate_of(e.version), e.score) for e in scored],
        failures=failures,
        train=[(example.input, example.expected) for example in train],
        choices=shared_choices(train),
        k=run.candidates_per_iteration * run.screen_factor,  # how many to propose; screening scores fewer
        iteration=run.iteration,
        rng=rng,
        ask=lambda messages, json_schema=None: ask_optimizer(run, messages, json_schema),
        answers=[(p.output, p.example.expected) for p in answered],
        max_iterations=run.max_iterations,
        budget_left=budget_left(run),
        iterations_without_improvement=run.iterations_without_improvement,
    )


def shared_choices(examples):
    """The answers every example picks from, when they all share the same ones; else None."""
    choice_sets = {tuple(example.choices or ()) for example in examples}
    return list(choice_sets.pop()) if len(choice_sets) == 1 and () not in choice_sets else None


def unseen(candidates, situation):
    """The candidates not scored before in this run, each once."""
    known = {candidate.key() for candidate, _ in situation.history} | {situation.current.key()}
    fresh = {}
    for candidate in candidates:
        if candidate.key() not in known:
            fresh.setdefault(candidate.key(), candidate)
    return list(fresh.values())


def candidate_of(version):
    return Candidate(version.system_prompt, version.output_instruction, tuple(version.demonstrations), version.note)


def ask_optimizer(run, messages, json_schema=None):
    request = Request(
        messages, temperature=OPTIMIZER_TEMPERATURE, max_tokens=1024, schema=json_schema, sample=run.iteration
    )
    try:
        [completion] = complete_batch(
            [request],
            provider=run.optimizer_provider,
            model=run.optimizer_model,
            run=run,
            iteration=run.iteration,
            purpose="optimizer",
            use_cache=run.use_cache,
        )
    except LLMError as exc:
        if exc.retryable:
            raise
        raise OptimizerError(f"The optimizer model refused the request: {exc.message}") from exc
    return completion.text


# ---------------------------------------------------------------------------------------------------------
# How one step is run: claim the run (leases.py), do the step, record where it got to


def run_next_step(run_id):
    """Claim the run, do its current step, and record the next one. Returns True while work remains."""
    run, token = claim(run_id)
    if run is None:
        return False
    step = run.step
    try:
        if run.cancel_requested:
            raise RunCancelled()
        next_step = STEPS[step](run)
    except RunCancelled:
        return record(run, token, RunStatus.CANCELLED, step, stop_reason="Cancelled.")
    except WaitingForBatchJob:  # the job's check queues the step again
        return record(run, token, RunStatus.WAITING, step)
    except (PromptOptError, LLMError) as exc:
        return record(run, token, RunStatus.FAILED, step, last_error=f"{Step(step).label}: {exc.message}")
    except Exception as exc:
        log.exception("Run %s failed in step %s", run_id, step)
        return record(
            run, token, RunStatus.FAILED, step,
            last_error=f"{Step(step).label}: an internal error ({type(exc).__name__}: {exc}). "
            "Its traceback is in the worker's log.",
        )
    return record(run, token, run.status, next_step)
