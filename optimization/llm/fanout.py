"""Sending a batch: concurrently up to the provider's limit, under the rate limits, with retries.

Each provider has one thread pool per process, so its concurrency limit holds however many batches run
at once. Worker threads only call the provider; the database is touched by the caller's thread alone.
"""

import threading
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

from django.conf import settings

from . import per_process, retries
from .interface import LLMError


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
        # A failed batch wakes its sleepers, which then start no new call.
        return retries.retrying(sleep=stop.wait)(attempt)
    except Exception as error:
        stop.set()  # here, not in answers(): this worker's next job must already see it
        if isinstance(error, LLMError):
            error.message = f"{name} ({model}): {retries.explained(error, attempts)}"
            error.args = (error.message,)
        raise


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
