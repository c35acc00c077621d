"""ROUGE-L F-measure (longest common subsequence of words) against the closest acceptable answer (rouge-score)."""

import re
from statistics import fmean

import evaluate
from rouge_score.rouge_scorer import RougeScorer

import datasets


class RougeL(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=__doc__,
            citation="Lin, ROUGE: A Package for Automatic Evaluation of Summaries, ACL 2004.",
            inputs_description="predictions: answers; references: per answer, the expected answer then alternatives.",
            features=datasets.Features(
                {"predictions": datasets.Value("string"), "references": datasets.Sequence(datasets.Value("string"))}
            ),
        )

    def _compute(self, predictions, references):
        scores = [
            _SCORER.score_multi(list(acceptable), prediction)["rougeL"].fmeasure
            for prediction, acceptable in zip(predictions, references)
        ]
        return {"rouge_l": fmean(scores), "scores": scores}


class _WordTokenizer:
    """rouge-score's default tokenizer keeps only [a-z0-9], so any non-English answer scores 0 even when it is
    identical to the expected one. This one gives the same tokens for ASCII text and keeps letters of any script."""

    def tokenize(self, text):
        return re.findall(r"[^\W_]+", text.lower())


_SCORER = RougeScorer(["rougeL"], tokenizer=_WordTokenizer())
