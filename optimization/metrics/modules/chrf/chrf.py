"""chrF (character n-gram F-score) of each answer against its acceptable answers (sacrebleu), from 0 to 1."""

from statistics import fmean

import evaluate
from sacrebleu.metrics import CHRF

import datasets


class Chrf(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=__doc__,
            citation="Popović, chrF: character n-gram F-score for automatic MT evaluation, WMT 2015.",
            inputs_description="predictions: answers; references: per answer, the expected answer then alternatives.",
            features=datasets.Features(
                {"predictions": datasets.Value("string"), "references": datasets.Sequence(datasets.Value("string"))}
            ),
        )

    def _compute(self, predictions, references):
        scores = [
            _fraction(_CHRF.sentence_score(prediction, list(acceptable)).score)
            for prediction, acceptable in zip(predictions, references)
        ]
        return {"chrf": fmean(scores), "scores": scores}


_CHRF = CHRF()


def _fraction(percent):
    # A perfect match can come out as 100.00000000000004.
    return min(percent / 100, 1.0)
