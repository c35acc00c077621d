"""What the rest of PromptOpt sees of a language model: a request in, a completion out, one error type."""

import email.utils
import math
import time
from dataclasses import dataclass

ROLES = ("system", "user", "assistant")


@dataclass(frozen=True)
class Request:
    """One chat completion to ask for.

    `sample` tells apart repeated asks of the same prompt at a temperature above 0: it is part of the
    cache key then, so sample 0 and sample 1 are two answers. At temperature 0 it is ignored.
    An empty `model` means the model given to the batch, or else the provider's default.
    """

    messages: list[dict]
    model: str = ""
    temperature: float = 0.0
    max_tokens: int = 512
    schema: dict | None = None
    sample: int = 0

    def __post_init__(self):
        if not self.messages:
            raise ValueError("A request needs at least one message.")
        for message in self.messages:
            if message.get("role") not in ROLES or not isinstance(message.get("content"), str):
                raise ValueError(f"A message is {{role: {'|'.join(ROLES)}, content: str}}; got {message!r}.")
        if self.max_tokens < 1:
            raise ValueError("max_tokens must be at least 1.")


@dataclass(frozen=True)
class Completion:
    text: str
    input_tokens: int
    output_tokens: int
    latency: float  # seconds the provider took to answer; 0 when served from the cache
    finish_reason: str  # "stop", "length", or the provider's own word in lower case
    cached: bool = False


class LLMError(Exception):
    """A completion that could not be had. `retryable` says whether asking again later can help."""

    def __init__(self, message: str, retryable: bool, *, retry_after: float | None = None,
                 status_code: int | None = None):
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.retry_after = retry_after  # seconds the server asked us to wait, if it said
        self.status_code = status_code  # the HTTP status the provider answered with, if it answered

    def __reduce__(self):  # picklable, for task queues that store what a task raised
        return (self.__class__, (self.message, self.retryable), self.__dict__)


def retry_after(headers) -> float | None:
    """Seconds to wait according to `Retry-After` (seconds or an HTTP date) or `retry-after-ms`."""
    if headers is None:
        return None
    value = headers.get("retry-after-ms")
    if value is not None:
        try:
            return max(float(value) / 1000, 0.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        date = email.utils.parsedate_tz(value)
        if date is None:
            return None
        seconds = email.utils.mktime_tz(date) - time.time()
    return max(seconds, 0.0) if math.isfinite(seconds) else None
