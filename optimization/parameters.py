"""What a run's parameters are checked against: the bounds a database column holds, finite numbers, the metric's
options, and the choices of provider, metric and strategy. The fields themselves are declared once, on `Run`."""

import math

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator

from . import metrics
from .strategies import registry as strategies

# The bounds of the run's integer parameters that PostgreSQL's columns can hold (SQLite would take more).
INT32 = 2**31 - 1
INT64 = 2**63 - 1


def between(low, high):
    return [validate_number, MinValueValidator(low), MaxValueValidator(high)]


def validate_number(value):
    """NaN passes both bounds (every comparison with it is false), and infinity is no parameter either."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ValidationError("A finite number, please.")


# Choices and the default provider are callables: a new metric, strategy or provider, or another
# LLM_DEFAULT_PROVIDER, then needs no migration.
def provider_choices():
    from .llm.providers import NAMES  # not at import: the LLM layer imports these models

    return [(name, name) for name in NAMES]


def default_provider():
    return settings.LLM_DEFAULT_PROVIDER


def metric_choices():
    return [(name, f"{name} — {description}") for name, description in metrics.METRICS.items()]


def strategy_choices():
    return strategies.choices()


def validate_metric_options(options):
    def strings(value):
        if isinstance(value, str):
            yield value
        elif isinstance(value, dict):
            for key, item in value.items():
                yield key
                yield from strings(item)
        elif isinstance(value, list):
            for item in value:
                yield from strings(item)

    if not isinstance(options, dict):
        raise ValidationError('Write a JSON object, e.g. {"ignore_case": false}.')
    if any("\x00" in text for text in strings(options)):  # PostgreSQL cannot store them in JSON
        raise ValidationError("Null characters are not allowed.")
