"""The one retry policy for calls to a provider: as many attempts as LLM_MAX_RETRIES allows, waiting what the
server's Retry-After asks or else backing off exponentially with jitter, for errors that say asking again can help
(and a server that asks to wait longer than MAX_RETRY_AFTER is not going to answer: give up instead)."""

import time

import tenacity
from django.conf import settings

from .interface import LLMError

MAX_RETRY_AFTER = 120.0


def retrying(*, worth=None, sleep=time.sleep):
    """A tenacity.Retrying that retries what `worth(error)` accepts (default: worth_retrying) and re-raises the last
    error; `sleep` lets a caller wake its sleepers early."""
    return tenacity.Retrying(
        stop=tenacity.stop_after_attempt(settings.LLM_MAX_RETRIES + 1),
        wait=_Backoff(),
        retry=tenacity.retry_if_exception(worth or worth_retrying),
        sleep=sleep,
        reraise=True,
    )


def worth_retrying(error):
    if not isinstance(error, LLMError) or not error.retryable:
        return False
    return error.retry_after is None or error.retry_after <= MAX_RETRY_AFTER


def explained(error, attempts):
    """The error's message, saying why the retries stopped, when they did."""
    if error.retry_after is not None and error.retry_after > MAX_RETRY_AFTER:
        return f"{error.message} (the server asks to wait {error.retry_after:.0f} s)"
    if attempts > 1:
        return f"{error.message} (gave up after {attempts} attempts)"
    return error.message


class _Backoff(tenacity.wait.wait_base):
    """What the server's Retry-After asks, when it says; otherwise exponential backoff with jitter."""

    def __call__(self, retry_state):
        error = retry_state.outcome.exception()
        if error.retry_after is not None:
            return error.retry_after
        initial = settings.LLM_RETRY_INITIAL_DELAY
        backoff = tenacity.wait_exponential_jitter(
            initial=initial, max=settings.LLM_RETRY_MAX_DELAY, jitter=initial
        )
        return backoff(retry_state)
