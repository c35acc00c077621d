"""The trivial baseline: one answer given to every example, chosen on the train split, costing no LLM call.

A score means little until it stands beside what a prompt that learned nothing would score: where most right
answers are "plausible", always answering "plausible" scores well without reading a single example.
"""

from collections import Counter

from . import metrics
from .metrics import normalization_of
from .metrics.normalization import normalize


def constant_answer(metric, options, train):
    """The constant answer that does best on the `train` examples.

    When every example offers choices, each choice is tried as the answer to every train example and the one
    with the best mean score under the run's metric and options wins; for free-text answers, the most frequent
    right answer (normalised as the metric compares answers) wins. Ties go to the answer right most often on
    train, then to the one the dataset lists first: the same examples always give the same baseline."""
    if not train:
        raise ValueError("The baseline is chosen on the train split, and it has no examples.")
    normalization = normalization_of(options)
    right = Counter(normalize(example.expected, **normalization) for example in train)
    if all(example.choices for example in train):
        candidates = list(dict.fromkeys(choice for example in train for choice in example.choices))
        means = [_train_mean(metric, options, train, candidate) for candidate in candidates]
    else:
        candidates = list(dict.fromkeys(example.expected for example in train))
        means = [0.0] * len(candidates)  # chosen by frequency alone
    order = sorted(
        range(len(candidates)),
        key=lambda i: (-means[i], -right[normalize(candidates[i], **normalization)], i),
    )
    return candidates[order[0]]


def _train_mean(metric, options, train, answer):
    scores = metrics.score(
        metric,
        [answer] * len(train),
        [example.answers for example in train],
        choices=[example.choices for example in train],
        options=options,
    )
    return sum(scores) / len(scores)
