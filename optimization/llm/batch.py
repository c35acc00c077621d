"""complete_batch: the one door to the language models. Cache, fan-out and accounting, in that order."""

import dataclasses

from django.db import transaction

from . import cache, fanout, ledger, providers


def complete_batch(
    requests, *, provider, model="", run=None, iteration=None, purpose="inference", use_cache=True
):
    """Completions for `requests`, in their order.

    Answers come from the cache when it has them; with use_cache=False every request is sent and the fresh
    answers replace the stored ones. With the cache on, identical requests in one batch are sent once.
    Every completion handed out becomes an LLMCall row. Raises LLMError, in the provider's own words, if a
    request still fails after retries; what was paid for is cached and accounted all the same.
    """
    requests = list(requests)
    if not requests:
        return []
    backend = providers.get(provider)
    models = [request.model or model or backend.default_model() for request in requests]
    keys = [cache.key(provider, m, r) for m, r in zip(models, requests)]
    accounting = {"provider": provider, "run": run, "iteration": iteration, "purpose": purpose}

    if use_cache:
        found = cache.lookup(keys)
        first_of_key = {}
        for index, key in enumerate(keys):
            if key not in found:
                first_of_key.setdefault(key, index)
        to_send = list(first_of_key.values())
    else:
        found = {}
        to_send = list(range(len(requests)))

    # Paid answers are written (cache and ledger) as they arrive, every answer there at that moment in one
    # group, while the rest of the batch is in flight: the writes overlap the waiting, and a worker killed
    # mid-batch, even by SIGKILL, loses only the calls in flight; the worker that resumes the step finds the rest
    # in the cache. A slow provider gets a write per answer, a fast one fewer, larger writes.
    fresh = {}  # request index -> Completion from the provider
    for group in fanout.answers(backend, provider, [(requests[i], models[i]) for i in to_send]):
        for job, completion in group:
            fresh[to_send[job]] = completion
        _write_paid([to_send[job] for job, _ in group], fresh, keys, models, accounting)

    # A request not sent is answered from the cache, or by its twin sent in this batch.
    reused = {**found, **{keys[i]: dataclasses.replace(c, latency=0.0, cached=True) for i, c in fresh.items()}}
    completions = [fresh.get(index) or reused[key] for index, key in enumerate(keys)]
    served = [(models[i], c) for i, c in enumerate(completions) if i not in fresh]
    if served:
        with transaction.atomic():
            cache.count_hits([key for key in keys if key in found])
            ledger.record(served, **accounting)
    return completions


def complete(request, **options):
    """One completion; the same options as complete_batch."""
    return complete_batch([request], **options)[0]


def _write_paid(indexes, fresh, keys, models, accounting):
    if not indexes:
        return
    with transaction.atomic():
        cache.store(accounting["provider"], {keys[i]: (models[i], fresh[i]) for i in indexes})
        ledger.record([(models[i], fresh[i]) for i in indexes], **accounting)
