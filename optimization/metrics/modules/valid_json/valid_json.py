"""Valid JSON: the whole answer parses as JSON (surrounding whitespace allowed; Markdown code fences are not)."""

import json
from statistics import fmean

import evaluate

import datasets


class ValidJson(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=__doc__,
            citation="",
            inputs_description="predictions: answers; references: not used.",
            features=datasets.Features({"predictions": datasets.Value("string")}),
        )

    def _compute(self, predictions):
        scores = [float(_is_json(prediction)) for prediction in predictions]
        return {"valid_json": fmean(scores), "scores": scores}


def _is_json(text):
    try:
        json.loads(text, parse_constant=_not_json)
    except ValueError:
        return False
    return True


def _not_json(constant):
    # Python's json accepts NaN and Infinity, which JSON itself does not.
    raise ValueError(f"{constant} is not JSON")
