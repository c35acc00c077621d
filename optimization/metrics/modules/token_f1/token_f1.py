"""Token F1 as in SQuAD: word overlap with the closest acceptable answer, ignoring case, punctuation and articles."""

import re
import string
from collections import Counter
from statistics import fmean

import evaluate

import datasets


class TokenF1(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=__doc__,
            citation="Rajpurkar et al., SQuAD: 100,000+ Questions for Machine Comprehension of Text, EMNLP 2016.",
            inputs_description="predictions: answers; references: per answer, the expected answer then alternatives.",
            features=datasets.Features(
                {"predictions": datasets.Value("string"), "references": datasets.Sequence(datasets.Value("string"))}
            ),
        )

    def _compute(self, predictions, references):
        scores = [
            max(_f1(_tokens(prediction), _tokens(reference)) for reference in acceptable)
            for prediction, acceptable in zip(predictions, references)
        ]
        return {"token_f1": fmean(scores), "scores": scores}


_PUNCTUATION = str.maketrans("", "", string.punctuation)


def _tokens(text):
    text = text.lower().translate(_PUNCTUATION)
    return re.sub(r"\b(a|an|the)\b", " ", text).split()


def _f1(predicted, expected):
    if not predicted or not expected:
        # SQuAD 2.0: an empty answer is right only when the expected answer is empty too.
        return float(predicted == expected)
    overlap = sum((Counter(predicted) & Counter(expected)).values())
    if overlap == 0:
        return 0.0
    precision, recall = overlap / len(predicted), overlap / len(expected)
    return 2 * precision * recall / (precision + recall)
