"""Choice accuracy: the answer names exactly one of the example's choices, and it is the expected one."""

from statistics import fmean

import evaluate

import datasets
from optimization.metrics.normalization import named_choices, normalize


class ChoiceAccuracy(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=__doc__,
            citation="",
            inputs_description=(
                "predictions: answers; references: per answer, the expected choice (then other right choices); "
                "choices: per answer, the choices the model picks from."
            ),
            features=datasets.Features(
                {
                    "predictions": datasets.Value("string"),
                    "references": datasets.Sequence(datasets.Value("string")),
                    "choices": datasets.Sequence(datasets.Value("string")),
                }
            ),
        )

    def _compute(self, predictions, references, choices, **normalization):
        scores = []
        for position, (prediction, acceptable, example_choices) in enumerate(zip(predictions, references, choices)):
            offered = {normalize(choice, **normalization) for choice in example_choices} - {""}
            right = {normalize(reference, **normalization) for reference in acceptable} & offered
            if not right:
                # Otherwise every answer to this example would silently score 0.
                raise ValueError(f"Example {position}: the expected answer {acceptable[0]!r} is not among its choices.")
            named = named_choices(normalize(prediction, **normalization), offered)
            scores.append(float(len(named) == 1 and named <= right))
        return {"choice_accuracy": fmean(scores), "scores": scores}
