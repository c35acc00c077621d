"""Regex: the answer matches the `pattern` option (anywhere in it), or, without that option, the whole answer
matches the expected answer (or an alternative) read as a regular expression; after the chosen normalisation.
Each match has a time limit (optimization/metrics/patterns.py): one that runs out counts as no match."""

from statistics import fmean

import evaluate

import datasets
from optimization.metrics.normalization import normalize
from optimization.metrics.patterns import compile_pattern, matches


class Regex(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=__doc__,
            citation="",
            inputs_description="predictions: answers; references: per answer, the expected answer then alternatives.",
            features=datasets.Features(
                {"predictions": datasets.Value("string"), "references": datasets.Sequence(datasets.Value("string"))}
            ),
        )

    def _compute(self, predictions, references, pattern=None, ignore_case=True, **normalization):
        # Lower-casing a pattern would change what it means (\D is not \d), so case is a flag instead.
        answers = [normalize(prediction, ignore_case=False, **normalization) for prediction in predictions]
        if pattern is not None:
            wanted = compile_pattern(pattern, ignore_case=ignore_case, what="The regex pattern")
            scores = [float(matches(wanted, answer)) for answer in answers]
        else:
            scores = [
                float(_matches_expected(answer, acceptable, ignore_case, position))
                for position, (answer, acceptable) in enumerate(zip(answers, references))
            ]
        return {"regex": fmean(scores), "scores": scores}


def _matches_expected(answer, acceptable, ignore_case, position):
    return any(
        matches(compile_pattern(reference, ignore_case=ignore_case, what=f"Example {position}: the expected answer"),
                answer, whole=True)
        for reference in acceptable
    )
