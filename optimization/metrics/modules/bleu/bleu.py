"""BLEU of each answer against its acceptable answers (sacrebleu, sentence level), from 0 to 1."""

from statistics import fmean

import evaluate
from sacrebleu.metrics import BLEU as SacreBLEU

import datasets


class Bleu(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=__doc__,
            citation="Post, A Call for Clarity in Reporting BLEU Scores, WMT 2018.",
            inputs_description="predictions: answers; references: per answer, the expected answer then alternatives.",
            features=datasets.Features(
                {"predictions": datasets.Value("string"), "references": datasets.Sequence(datasets.Value("string"))}
            ),
        )

    def _compute(self, predictions, references):
        scores = [
            _fraction(_BLEU.sentence_score(prediction, list(acceptable)).score)
            for prediction, acceptable in zip(predictions, references)
        ]
        return {"bleu": fmean(scores), "scores": scores}


# Short answers rarely have a 4-gram in common with the expected one; effective order scores them on the
# n-gram orders they have instead of giving them 0.
_BLEU = SacreBLEU(effective_order=True)


def _fraction(percent):
    # A perfect match can come out as 100.00000000000004.
    return min(percent / 100, 1.0)
