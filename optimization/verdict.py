"""What a run's evidence says about its best version: whether it is offered for review, and why, in words.

The best version won on the validation split, where it was chosen, so only the held-out test split can say
whether it is better. It is offered for review (it becomes a candidate) only when, on the same test examples,
it scores strictly higher than the start AND than the constant-answer baseline, and it does not itself answer
nearly everything with one label. A difference whose 95 % interval includes zero still counts as higher (on
40 examples a real gain often cannot be told from chance), but the verdict says it could be chance, so the
reviewer weighs it. Anything else stays a draft, and the verdict says why.
"""

from dataclasses import dataclass

from .statistics import Comparison

# A difference of scores that are means of the same examples is either exactly zero or at least 1/examples;
# this only keeps float rounding from counting as a gain.
GAIN = 1e-9
SIGNIFICANCE = 0.05


@dataclass(frozen=True)
class Side:
    """One side of a comparison on test: its name in words, its mean score and the paired comparison with it."""

    name: str
    score: float
    comparison: Comparison


@dataclass(frozen=True)
class Verdict:
    offered: bool
    words: str


def significant(comparison):
    """The whole 95 % interval is above zero, and the test agrees."""
    return comparison.ci_low > 0 and (comparison.p_value is None or comparison.p_value < SIGNIFICANCE)


def judge(*, best, is_start, examples, best_score, start, baseline, constant=None):
    """`best` names the best version ("v5"); `start` and `baseline` are Sides (best − them); `constant` is the
    sentence part saying the best gives a constant answer, or None."""
    if is_start:
        return Verdict(False, (
            f"No candidate beat the start on the validation split, so nothing new is offered for review. On "
            f"{examples} test examples the start scores {start.score:.2f} and {baseline.name} scores "
            f"{baseline.score:.2f}."
        ))
    reasons = [constant] if constant else []
    for side in (start, baseline):
        if side.comparison.delta <= GAIN:
            reasons.append(
                f"it does not score above {side.name} on the test split ({best_score:.2f} against "
                f"{side.score:.2f}: {difference(side.comparison)})"
            )
    if reasons:
        return Verdict(False, (
            f"{best} is not offered for review: {'; '.join(reasons)}. It stays a draft; asking for its review "
            "takes a written reason, which the approver sees."
        ))
    chance = [f"{side.name} ({why_chance(side.comparison)})" for side in (start, baseline)
              if not significant(side.comparison)]
    words = (
        f"{best} is offered for review: on {examples} test examples it scores {best_score:.2f}, above "
        f"{start.name} ({start.score:.2f}; {difference(start.comparison)}) and above {baseline.name} "
        f"({baseline.score:.2f}; {difference(baseline.comparison)})."
    )
    if chance:
        words += (
            f" Against {' and '.join(chance)} the gain could be chance: measure it on more examples before "
            "relying on it."
        )
    return Verdict(True, words)


def why_chance(comparison):
    if comparison.ci_low <= 0:
        return "the 95 % interval includes zero"
    return f"the paired test gives {p_words(comparison.p_value)}"


def difference(comparison):
    return (f"difference {comparison.delta:+.2f}, 95 % interval {comparison.ci_low:+.2f} to "
            f"{comparison.ci_high:+.2f}, {p_words(comparison.p_value)}")


def p_words(p):
    if p is None:
        return "no p-value"
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"
