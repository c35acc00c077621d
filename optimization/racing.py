"""Racing: the candidates answer the validation examples a slice at a time, and one that can no longer beat the
best so far, or is unlikely to, or that a paired test puts behind the best so far or behind the round's leader,
answers no more; among those that answered everything, a tie goes to the shortest prompt, and a racer that could
still win such a tie is not dropped behind the leader on weaker evidence than the tie asks."""

import math
import random

from datasets.models import Split

from . import metrics
from .answers import compare, evaluation_of, score, score_answers, scores_by_example, selected_examples
from .models import Prediction
from .statistics import behind_p_value, chance_to_exceed
from .strategies import prompt_length

IMPROVEMENT = 1e-9  # a score must rise by more than this to count as better
# Racing drops a candidate when the one-sided paired test on the examples it has answered says it is behind the
# best so far, or behind the leader of the round (the candidate, or the best so far, with the highest mean on
# those examples), at this level. It decides only where to spend answers, never what is claimed (the test split
# does that), so it is lenient, as in CAPO (Zehle et al., 2025, alpha 0.2, every candidate against the others):
# on a slice of right/wrong answers, 3 discordant pairs all in the other's favour (p = 0.125), or 4 of 5 (p = 0.19),
# drop it (a racer shorter than the leader is judged against the leader by the tie rule instead: `left_behind`).
RACE_ALPHA = 0.2
# Candidates the two-sided paired test cannot tell from the top one at this level tie with it (the shorter wins).
TIE_ALPHA = 0.05
BEST_POSSIBLE = 1.0  # every metric scores an answer from 0 to 1
# Racing also drops a candidate whose predictive probability of ending above the best so far, from its answers on
# the slice, is below this: futility stopping by predictive probability (Lee and Liu, 2008, who stop a trial below
# 0.001 to 0.1; the top of that range, since racing only decides where answers are spent). With 40 examples and a
# best of 0.40, a candidate right on 1 of the first 9 stops (chance 0.02); one right on 2 answers on (0.11).
FUTILITY = 0.1
# Each slice is a quarter larger than the last (rounded up), not twice as large: a rule can only stop a candidate
# at the end of a slice, and with doubling one that survives a first slice of 10 answers 10 more before the next
# look and 20 more after it. A look costs no answer, only a round trip; growing by a quarter keeps their number
# logarithmic in the split (10 rounds for 40 examples from a first slice of 5, 24 for 1,000).
GROWTH = 1.25


def race_order(run):
    """The validation examples in the order a race takes them: shuffled with the run's seed, so a slice is a
    sample of the split, not its first rows."""
    examples = selected_examples(run, Split.VALIDATION)
    random.Random(f"{run.seed}:race").shuffle(examples)
    return examples


def race_slices(first, total):
    """How many examples each round of a race has answered: first, a quarter more (rounded up), ..., then all."""
    sizes = []
    size = first
    while 0 < size < total:
        sizes.append(size)
        size = math.ceil(size * GROWTH)
    return sizes + [total]


def race_round(run, racing, best, answered, total):
    """The candidates still in the race after a round on the examples `answered` (of `total`); the others are
    scored on the answers they have and marked as raced out. Judged on that slice alone, so that a round run
    again after a crash decides as it did the first time."""
    ids = {example.id for example in answered}
    answers = {
        c.pk: {e: s for e, s in slice_scores(run, evaluation_of(run, c, Split.VALIDATION)).items() if e in ids}
        for c in racing
    }
    out = left_behind(run, answers, best, total, {c.pk: prompt_length(c) for c in racing})
    for candidate in racing:
        if candidate.pk in out:
            drop(run, candidate)
    return [c for c in racing if c.pk not in out]


def left_behind(run, answers, best, total, lengths):
    """Which racers (keys of `answers`, each one's scores by example on what it has answered of `total`; `lengths`,
    their prompts' lengths) stop: those that even every remaining answer right would not lift above the best so far
    (a candidate that does not beat the best cannot win, so this costs nothing), those whose answers so far give
    them less than FUTILITY of a chance to end above it, and those that the one-sided paired test on the examples
    they have answered puts behind the best so far or behind the round's leader (the racer, or the best so far,
    with the highest mean on those examples), at RACE_ALPHA. A racer shorter than the leader could still win a tie
    with it (`pick_winner`), so the leader drops it only by the tie rule's own test on the slice (`clearly_behind`).
    Looking after every slice at RACE_ALPHA dropped, by noise, the shorter of two prompts the tie rule keeps, and
    racing picked a different winner than scoring everything (README, "Racing")."""
    leader = max([None, *answers], key=lambda key: slice_mean(best if key is None else answers[key], answers))

    def behind_the_leader(key, mine):
        if leader is None or leader == key:
            return False
        if lengths[key] < lengths[leader]:
            return clearly_behind(run, mine, answers[leader])
        return behind(run, mine, answers[leader])

    return {
        key for key, mine in answers.items()
        if cannot_beat_the_best(run, mine, total)
        or unlikely_to_beat_the_best(run, mine, total)
        or behind(run, mine, best)
        or behind_the_leader(key, mine)
    }


def slice_mean(scores, answers):
    """The mean of `scores` on the examples every racer has answered (the best so far has answered them all)."""
    examples = set.intersection(*(set(a) for a in answers.values())) if answers else set(scores)
    return sum(scores[e] for e in examples) / len(examples) if examples else 0.0


def cannot_beat_the_best(run, mine, total):
    return (sum(mine.values()) + (total - len(mine)) * BEST_POSSIBLE) / total <= run.best_score + IMPROVEMENT


def unlikely_to_beat_the_best(run, mine, total):
    """Whether the answers still to come, predicted from those so far, lift the racer above the best so far with a
    probability below FUTILITY."""
    needed = (run.best_score + IMPROVEMENT) * total - sum(mine.values())
    chance = chance_to_exceed(list(mine.values()), total - len(mine), needed, binary=metrics.is_binary(run.metric))
    return chance < FUTILITY


def behind(run, mine, theirs):
    """Whether the one-sided paired test on the examples of `mine` puts them behind `theirs` at RACE_ALPHA."""
    examples = [e for e in mine if e in theirs]
    p_value = behind_p_value([theirs[e] for e in examples], [mine[e] for e in examples],
                             binary=metrics.is_binary(run.metric))
    return p_value < RACE_ALPHA


def drop(run, candidate):
    evaluation = evaluation_of(run, candidate, Split.VALIDATION)
    evaluation.raced_out = True
    evaluation.save(update_fields=["raced_out"])
    score(run, evaluation)


def pick_winner(run, candidates):
    """(score, version) of the best candidate, or (None, None): `winner_of` their scores on validation."""
    if not candidates:
        return None, None
    scores = {c.pk: scores_by_example(run, evaluation_of(run, c, Split.VALIDATION)) for c in candidates}
    winner = winner_of(run, scores, {c.pk: prompt_length(c) for c in candidates}, {c.pk: c.number for c in candidates})
    versions = {c.pk: c for c in candidates}
    return sum(scores[winner].values()) / len(scores[winner]), versions[winner]


def winner_of(run, scores, lengths, numbers):
    """The key of the winner among candidates (`scores`, each one's scores by example; `lengths`, their prompts'
    lengths; `numbers`, their version numbers). Those the paired test cannot tell from the top one tie with it,
    and the shortest prompt of them wins: noise alone does not pick a longer prompt. A tied candidate that does
    not improve on the best so far cannot win in the top one's place."""
    means = {key: sum(values.values()) / len(values) for key, values in scores.items()}
    top = max(scores, key=lambda key: (means[key], -numbers[key]))
    tied = [key for key in scores if key == top or (
        means[key] > run.best_score + IMPROVEMENT and not clearly_behind(run, scores[key], scores[top])
    )]
    return min(tied, key=lambda key: (lengths[key], -means[key], numbers[key]))


def clearly_behind(run, mine, theirs):
    """Whether the paired test on the examples of `mine` (scores by example) puts them behind `theirs`."""
    comparison = compare(run, {example: theirs[example] for example in mine}, mine)
    return comparison.delta < 0 and comparison.p_value is not None and comparison.p_value < TIE_ALPHA


def slice_scores(run, evaluation):
    """The scores of the answers an evaluation has so far, by example, without closing it."""
    predictions = list(evaluation.predictions.select_related("example"))
    for prediction, value in zip(predictions, score_answers(run, predictions)):
        prediction.score = value
    Prediction.objects.bulk_update(predictions, ["score"])
    return {p.example_id: p.score for p in predictions}
