"""Sending a batch: concurrently up to the provider's limit, under the rate limits, with retries.

Each provider has one thread pool per process, so its concurrency limit holds however many batches run
at once. Worker threads only call the provider; the database is touched by the caller's thread alone.
"""

import threading
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

import tenacity
from django.conf import settings

from . import per_process
from .interface import LLMError

# A server asking us to wait longer than this is not going to answer this batch: give up instead.
MAX_RETRY_AFTER = 120.0


def answers(provider, name, jobs):
    """Complete [(request, model), ...], yielding [(job index, Completion), ...] as answers arrive: every
    answer there at that moment, so a caller that writes each group writes one per arrival when the provider is
    slow and fewer, larger ones when answers come faster than it writes.

    The first error that retries cannot cure stops the batch: no new call starts, the calls in flight
    finish and are yielded (they are paid for), then the error is raised.
    """
    stop = threading.Event()
    limiter = _limiter(name) if provider.RATE_LIMITED else None
    workers = provider.concurrency()
    pool = per_process.instance(
        ("pool", name, workers), lambda: ThreadPoolExecutor(workers, thread_name_prefix=f"llm-{name}")
    )
    futures = {
        pool.submit(_complete, provider, name, request, model, limiter, stop): index
        for index, (request, model) in enumerate(jobs)
    }
    failure = None
    pending = set(futures)
    try:
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            group = []
            for future in done:
                if future.cancelled():
                    continue
                if future.exception() is not None:
                    if failure is None:
                        failure = future.exception()
                        for other in futures:
                            other.cancel()
                    continue
                if future.result() is not None:
                    group.append((futures[future], future.result()))
            if group:
                yield group
    finally:  # also when the caller stops listening: start nothing more
        stop.set()
        for future in futures:
            future.cancel()
    if failure is not None:
        raise failure


def _complete(provider, name, request, model, limiter, stop):
    if stop.is_set():
        return None
    retrying = tenacity.Retrying(
        stop=tenacity.stop_after_attempt(settings.LLM_MAX_RETRIES + 1),
        wait=_Backoff(),
        retry=tenacity.retry_if_exception(_worth_retrying),
        sleep=stop.wait,  # a failed batch wakes its sleepers, which then start no new call
        reraise=True,
    )
    attempts = 0

    def attempt():
        nonlocal attempts
        if stop.is_set():
            return None
        attempts += 1
        if limiter is None:
            return provider.complete(request, model)
        estimate = limiter.acquire(request)
        completion = provider.complete(request, model)
        limiter.settle(estimate, completion.input_tokens + completion.output_tokens)
        return completion

    try:
        return retrying(attempt)
    except Exception as error:
        stop.set()  # here, not in answers(): this worker's next job must already see it
        if isinstance(error, LLMError):
            if error.retry_after is not None and error.retry_after > MAX_RETRY_AFTER:
                error.message += f" (the server asks to wait {error.retry_after:.0f} s)"
            elif attempts > 1:
                error.message += f" (gave up after {attempts} attempts)"
            error.message = f"{name} ({model}): {error.message}"
            error.args = (error.message,)
        raise


def _worth_retrying(error):
    if not isinstance(error, LLMError) or not error.retryable:
        return False
    return error.retry_after is None or error.retry_after <= MAX_RETRY_AFTER


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


def _limiter(name):
    per_minute = (settings.LLM_REQUESTS_PER_MINUTE, settings.LLM_TOKENS_PER_MINUTE)
    if not any(per_minute):
        return None
    return per_process.instance(("rate", name, *per_minute), lambda: _RateLimiter(*per_minute))


class _TokenBucket:
    """Refills at per_minute/60 a second and holds one second's worth, so calls are spread out as the
    providers measure them (their per-minute limits are enforced over shorter windows)."""

    def __init__(self, per_minute):
        self.rate = per_minute / 60
        self.capacity = max(self.rate, 1.0)
        self.level = self.capacity
        self.updated = time.monotonic()

    def wait_for(self, amount):
        """Seconds until `amount` can be taken (0: take it now). A large amount waits for a full bucket
        and then leaves it in debt, which later calls wait out."""
        now = time.monotonic()
        self.level = min(self.capacity, self.level + (now - self.updated) * self.rate)
        self.updated = now
        needed = min(amount, self.capacity)
        if self.level >= needed:
            self.level -= amount
            return 0.0
        return (needed - self.level) / self.rate


class _RateLimiter:
    def __init__(self, requests_per_minute, tokens_per_minute):
        self.requests = _TokenBucket(requests_per_minute) if requests_per_minute else None
        self.tokens = _TokenBucket(tokens_per_minute) if tokens_per_minute else None
        self.lock = threading.Lock()

    def acquire(self, request):
        """Wait for room for this request; returns the tokens it was charged in advance."""
        # A rough count of what the call will use: ~4 characters a token in, at most max_tokens out.
        estimate = sum(len(m["content"]) for m in request.messages) // 4 + request.max_tokens
        for bucket, amount in ((self.requests, 1), (self.tokens, estimate)):
            while bucket is not None:
                with self.lock:
                    delay = bucket.wait_for(amount)
                if not delay:
                    break
                time.sleep(delay)
        return estimate

    def settle(self, estimate, used):
        """Give back what the call did not use (or charge what it used beyond the estimate)."""
        if self.tokens is not None:
            with self.lock:
                self.tokens.level = min(self.tokens.capacity, self.tokens.level + estimate - used)
