"""Regex: the answer matches the `pattern` option (anywhere in it), or, without that option, the whole answer
matches the expected answer (or an alternative) read as a regular expression; after the chosen normalisation."""

import re
from statistics import fmean

import evaluate

import datasets
from optimization.metrics.normalization import normalize


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
        flags = re.IGNORECASE if ignore_case else 0
        answers = [normalize(prediction, ignore_case=False, **normalization) for prediction in predictions]
        if pattern is not None:
            wanted = _compile(pattern, flags, "The regex pattern")
            scores = [float(wanted.search(answer) is not None) for answer in answers]
        else:
            scores = [
                float(_matches_expected(answer, acceptable, flags, position))
                for position, (answer, acceptable) in enumerate(zip(answers, references))
            ]
        return {"regex": fmean(scores), "scores": scores}


def _matches_expected(answer, acceptable, flags, position):
    return any(
        _compile(reference, flags, f"Example {position}: the expected answer").fullmatch(answer)
        for reference in acceptable
    )


def _compile(pattern, flags, what):
    try:
        return re.compile(pattern, flags)
    except re.error as error:
        raise ValueError(f"{what} {pattern!r} is not a valid regular expression: {error}.") from None
