"""How the optimization loop scores answers: one Hugging Face `evaluate` module per metric, kept in `modules/`
and loaded from there, so no metric comes from the Hub.

    score("exact_match", ["Three."], [["three", "3"]])  ->  [1.0]
"""

import functools
import os
import threading
from pathlib import Path

from django.conf import settings

from .patterns import compile_pattern

METRICS = {
    "exact_match": "The answer equals the expected answer or an alternative.",
    "choice_accuracy": "The answer names exactly one of the example's choices, and it is the expected one.",
    "contains": "The expected answer or an alternative appears in the answer as whole words.",
    "regex": "The answer matches the pattern option, or the expected answer read as a regular expression.",
    "valid_json": "The answer is valid JSON.",
    "token_f1": "Word overlap with the closest acceptable answer (SQuAD F1).",
    "bleu": "BLEU against the acceptable answers (sacrebleu, per answer), from 0 to 1.",
    "chrf": "chrF character n-gram F-score against the acceptable answers (sacrebleu), from 0 to 1.",
    "rouge_l": "ROUGE-L F-measure against the closest acceptable answer, from 0 to 1.",
}

_BINARY = {"exact_match", "choice_accuracy", "contains", "regex", "valid_json"}

# Every one defaults to True; the metrics that compare text take them.
_NORMALIZATION = {"ignore_case", "collapse_whitespace", "strip_trailing_punctuation"}
_OPTIONS = {
    "exact_match": _NORMALIZATION,
    "choice_accuracy": _NORMALIZATION,
    "contains": _NORMALIZATION,
    "regex": _NORMALIZATION | {"pattern"},
}

MODULES_DIR = Path(__file__).resolve().parent / "modules"


def score(metric, predictions, references, *, choices=None, options=None):
    """Per-answer scores from 0 to 1. `references` holds, per answer, the expected answer first, then
    alternatives; `choices`, per answer, the choices offered (needed by choice_accuracy)."""
    options = _checked_options(metric, options)
    if len(references) != len(predictions):
        raise ValueError(f"{len(predictions)} answers but {len(references)} lists of expected answers.")
    if any(not acceptable for acceptable in references):
        raise ValueError("Every answer needs at least one expected answer.")
    inputs = {"predictions": list(predictions), "references": [list(acceptable) for acceptable in references]}
    if metric == "choice_accuracy":
        if choices is None or len(choices) != len(predictions) or any(not offered for offered in choices):
            raise ValueError("choice_accuracy needs the choices of every example.")
        inputs["choices"] = [list(offered) for offered in choices]
    if not predictions:
        return []
    module, lock = _module(metric)
    with lock:
        return module.compute(**inputs, **options)["scores"]


def is_binary(metric):
    """Whether every score is 0 or 1 (right or wrong), as McNemar's test needs."""
    _check_metric(metric)
    return metric in _BINARY


def normalization_of(options):
    """The options that say how an answer is normalised (the rest, like a regex pattern, are the metric's own)."""
    return {name: value for name, value in (options or {}).items() if name in _NORMALIZATION}


def _check_metric(metric):
    if metric not in METRICS:
        raise ValueError(f"Unknown metric {metric!r}; the metrics are: {', '.join(METRICS)}.")


def check_options(metric, options):
    """Raise ValueError unless `metric` exists and takes these options (for forms, before a run starts)."""
    _checked_options(metric, options)


def _checked_options(metric, options):
    _check_metric(metric)
    options = dict(options or {})
    allowed = _OPTIONS.get(metric, set())
    for name, value in options.items():
        if name not in allowed:
            takes = f"it takes {', '.join(sorted(allowed))}" if allowed else "it takes none"
            raise ValueError(f"{metric} has no option {name!r}; {takes}.")
        if name == "pattern" and not isinstance(value, str):
            raise ValueError(f"The regex pattern must be text, not {value!r}.")
        if name == "pattern":  # refused before a run starts, not at its first score
            compile_pattern(value, ignore_case=False, what="The regex pattern")
        if name != "pattern" and not isinstance(value, bool):
            raise ValueError(f"The option {name} must be true or false, not {value!r}.")
    return options


@functools.cache
def _module(metric):
    """The metric's evaluate module, loaded once per process, and a lock: a module keeps the batch it is
    computing on itself, so two threads must not compute with it at once."""
    _point_evaluate_caches_at_var_dir()
    import datasets

    datasets.use_hugging_face_datasets()  # before evaluate: see datasets/__init__.py
    import evaluate

    return evaluate.load(str(MODULES_DIR / metric), keep_in_memory=True), threading.Lock()


def _point_evaluate_caches_at_var_dir():
    # evaluate copies each module into HF_MODULES_CACHE and imports it from there, and makes a directory per metric
    # in HF_METRICS_CACHE; both default to HOME, which may be read-only. An operator's own settings still win.
    # evaluate reads these when it is first imported.
    cache = Path(settings.VAR_DIR) / "evaluate"
    os.environ.setdefault("HF_MODULES_CACHE", str(cache / "modules"))
    os.environ.setdefault("HF_METRICS_CACHE", str(cache / "metrics"))
    os.environ.setdefault("HF_EVALUATE_OFFLINE", "1")
