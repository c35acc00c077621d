"""Contains: the expected answer or an alternative appears in the answer as whole words."""

from statistics import fmean

import evaluate

import datasets
from optimization.metrics.normalization import mention_spans, normalize


class Contains(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=__doc__,
            citation="",
            inputs_description="predictions: answers; references: per answer, the expected answer then alternatives.",
            features=datasets.Features(
                {"predictions": datasets.Value("string"), "references": datasets.Sequence(datasets.Value("string"))}
            ),
        )

    def _compute(self, predictions, references, **normalization):
        scores = []
        for prediction, acceptable in zip(predictions, references):
            answer = normalize(prediction, **normalization)
            found = any(_contains(answer, normalize(reference, **normalization)) for reference in acceptable)
            scores.append(float(found))
        return {"contains": fmean(scores), "scores": scores}


def _contains(answer, reference):
    # An empty expected answer would be "found" in every answer.
    return bool(mention_spans(answer, reference)) if reference else answer == ""
