"""Racing: the candidates answer the validation examples a slice at a time, and one that a paired test puts behind
the best answers no more; among those that answered everything, a tie goes to the shortest prompt."""

import random

from datasets.models import Split

from . import metrics
from .answers import compare, evaluation_of, score, score_answers, scores_by_example, selected_examples
from .models import Prediction
from .statistics import behind_p_value

IMPROVEMENT = 1e-9  # a score must rise by more than this to count as better
# Racing drops a candidate when the one-sided paired test on the examples it has answered says it is behind the
# best at this level. It decides only where to spend answers, never what is claimed (the test split does that), so
# it is lenient, as in CAPO (Zehle et al., 2025, alpha 0.2): on a first slice of 10 right/wrong answers, 3 discordant
# pairs all in the best's favour (p = 0.125), or 4 of 5 (p = 0.19), drop it.
RACE_ALPHA = 0.2
# Candidates the two-sided paired test cannot tell from the top one at this level tie with it (the shorter wins).
TIE_ALPHA = 0.05


def race_order(run):
    """The validation examples in the order a race takes them: shuffled with the run's seed, so a slice is a
    sample of the split, not its first rows."""
    examples = selected_examples(run, Split.VALIDATION)
    random.Random(f"{run.seed}:race").shuffle(examples)
    return examples


def race_slices(first, total):
    """How many examples each round of a race has answered: first, twice as many, ..., then all."""
    sizes = []
    size = first
    while 0 < size < total:
        sizes.append(size)
        size *= 2
    return sizes + [total]


def drop_if_behind(run, candidate, best):
    """Whether the one-sided paired test on the examples `candidate` has answered puts it behind the best (at
    RACE_ALPHA); if so, it is scored on those alone and marked as dropped."""
    evaluation = evaluation_of(run, candidate, Split.VALIDATION)
    mine = slice_scores(run, evaluation)
    p_value = behind_p_value([best[e] for e in mine], list(mine.values()), binary=metrics.is_binary(run.metric))
    if p_value >= RACE_ALPHA:
        return False
    evaluation.raced_out = True
    evaluation.save(update_fields=["raced_out"])
    score(run, evaluation)
    return True


def pick_winner(run, candidates):
    """(score, version) of the best candidate, or (None, None). Those the paired test cannot tell from the top
    one tie with it, and the shortest prompt of them wins: noise alone does not pick a longer prompt. A tied
    candidate that does not improve on the best so far cannot win in the top one's place."""
    if not candidates:
        return None, None
    scores = {c.pk: scores_by_example(run, evaluation_of(run, c, Split.VALIDATION)) for c in candidates}
    means = {pk: sum(values.values()) / len(values) for pk, values in scores.items()}
    top = max(candidates, key=lambda c: (means[c.pk], -c.number))
    tied = [c for c in candidates if c == top or (
        means[c.pk] > run.best_score + IMPROVEMENT and not clearly_behind(run, scores[c.pk], scores[top.pk])
    )]
    winner = min(tied, key=lambda c: (prompt_length(c), -means[c.pk], c.number))
    return means[winner.pk], winner


def clearly_behind(run, mine, theirs):
    """Whether the paired test on the examples of `mine` (scores by example) puts them behind `theirs`."""
    comparison = compare(run, {example: theirs[example] for example in mine}, mine)
    return comparison.delta < 0 and comparison.p_value is not None and comparison.p_value < TIE_ALPHA


def prompt_length(version):
    return len(version.system_prompt) + len(version.output_instruction) + sum(
        len(d.get("input", "")) + len(d.get("output", "")) for d in version.demonstrations
    )


def slice_scores(run, evaluation):
    """The scores of the answers an evaluation has so far, by example, without closing it."""
    predictions = list(evaluation.predictions.select_related("example"))
    for prediction, value in zip(predictions, score_answers(run, predictions)):
        prediction.score = value
    Prediction.objects.bulk_update(predictions, ["score"])
    return {p.example_id: p.score for p in predictions}
