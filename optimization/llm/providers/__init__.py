"""The providers by name. Each module is the only place that talks to its SDK, and each offers:

    default_model() -> str          the model used when a request names none
    concurrency() -> int            how many calls may be in flight at once in this process
    RATE_LIMITED: bool              whether LLM_REQUESTS_PER_MINUTE / LLM_TOKENS_PER_MINUTE apply
    complete(request, model) -> Completion, raising LLMError

Modules are imported on first use, so a machine without one SDK can still use the others.
"""

import importlib

from ..interface import LLMError

NAMES = ("embedded", "openai", "vertex")


def get(name):
    if name not in NAMES:
        raise LLMError(f"Unknown LLM provider {name!r}: use one of {', '.join(NAMES)}.", retryable=False)
    return importlib.import_module(f"{__name__}.{name}")
