"""Exact match: the answer equals the expected answer or an alternative, after the chosen normalisation."""

from statistics import fmean

import evaluate

import datasets
from optimization.metrics.normalization import normalize


class ExactMatch(evaluate.Metric):
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
            scores.append(max(float(answer == normalize(reference, **normalization)) for reference in acceptable))
        return {"exact_match": fmean(scores), "scores": scores}
