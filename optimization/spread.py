"""The answers' spread: what an evaluation answered, beside what the right answers were.

A prompt can score well by giving one answer to everything: where 52 % of the right answers are "plausible",
always answering "plausible" scores 0.52 and has learned nothing but the answer's spelling. The spread shows
it (a confusion matrix when the task has choices), and `is_constant` names it.
"""

from collections import Counter

from .metrics import normalization_of
from .metrics.normalization import named_choices, normalize

# A version gives a constant answer when at least this share of its answers is one label while less than this
# share of the right answers is. At 90 % at most one answer in ten differs from the rest: a prompt that reads the
# examples does not answer like that on a task whose right answers vary more. Where 90 % of the right answers are
# one label, answering that label is nearly right by definition, so nothing is flagged there.
CONSTANT_SHARE = 0.9
NO_CHOICE = "(no single choice)"  # an answer that names none of the choices, or several
OTHERS = "(other answers)"
SHOWN = 10  # free-text answers listed one by one, by how often they were given or expected; the rest are summed
LABEL_CHARS = 200  # a free-text answer is shown (and kept) up to this long; it is counted whole
MATRIX_LABELS = 12  # a confusion matrix with more labels than this is not readable on a page


def spread_of(outputs, expected, choices, options=None):
    """The spread of `outputs` beside `expected` (one each per example). `choices` holds each example's choices
    (empty when it has none); `options` are the metric's, of which the normalisation ones apply.

    Returns a JSON-ready dict: `rows` [[label, answered, right]], the top answer and its share, the right
    answers' top share, and a `confusion` matrix (right answers by row, answers by column) when every example
    has choices."""
    normalization = normalization_of(options)
    with_choices = bool(outputs) and all(choices)
    if with_choices:
        spelling = {}  # normalised -> as the dataset spells it, first seen first
        for offered in choices:
            for choice in offered:
                spelling.setdefault(normalize(choice, **normalization), choice)
        spelling.pop("", None)

        def label(text, offered):
            offered = {normalize(choice, **normalization) for choice in offered} - {""}
            named = named_choices(normalize(text, **normalization), offered)
            return spelling[named.pop()] if len(named) == 1 else NO_CHOICE

        answers = [label(output, offered) for output, offered in zip(outputs, choices)]
        right = [spelling.get(normalize(text, **normalization), text) for text in expected]
        labels = list(dict.fromkeys([*spelling.values(), *right]))
    else:
        answers = [normalize(text, **normalization) for text in outputs]
        right = [normalize(text, **normalization) for text in expected]
        labels = None
    answered, expected_counts = Counter(answers), Counter(right)
    top_answer, top_count = next(
        ((answer, count) for answer, count in answered.most_common() if answer not in ("", NO_CHOICE)), (None, 0)
    )
    n = len(answers)
    return {
        "choices": with_choices,
        "examples": n,
        "rows": [[_short(label), *counts] for label, *counts in _rows(answered, expected_counts, labels)],
        "top_answer": top_answer if top_answer is None else _short(top_answer),
        "top_share": top_count / n if n else 0.0,
        "right_top_share": max(expected_counts.values()) / n if n else 0.0,
        "confusion": _confusion(answers, right, labels) if labels and len(labels) <= MATRIX_LABELS else None,
    }


def is_constant(spread):
    """Nearly every answer is one label while the right answers are not."""
    return bool(spread) and spread["top_share"] >= CONSTANT_SHARE and spread["right_top_share"] < CONSTANT_SHARE


def _rows(answered, expected, labels):
    if labels is not None:  # every choice, in the dataset's order, then the answers that named none
        return [[label, answered[label], expected[label]] for label in labels] + (
            [[NO_CHOICE, answered[NO_CHOICE], 0]] if answered[NO_CHOICE] else []
        )
    shown = list(dict.fromkeys(
        [label for label, _ in answered.most_common(SHOWN)] + [label for label, _ in expected.most_common(SHOWN)]
    ))
    shown.sort(key=lambda label: -(answered[label] + expected[label]))  # stable: ties keep their first-seen order
    rows = [[label, answered[label], expected[label]] for label in shown]
    rest = [sum(counts.values()) - sum(counts[label] for label in shown) for counts in (answered, expected)]
    return rows + ([[OTHERS, *rest]] if any(rest) else [])


def _confusion(answers, right, labels):
    columns = labels + ([NO_CHOICE] if NO_CHOICE in answers else [])
    pairs = Counter(zip(right, answers))
    return {"rows": labels, "columns": columns, "counts": [[pairs[r, a] for a in columns] for r in labels]}


def _short(label):
    return label if len(label) <= LABEL_CHARS else label[: LABEL_CHARS - 1] + "…"
