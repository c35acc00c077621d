"""The response cache and the accounting ledger, through the whole layer, with the openai provider."""

from decimal import Decimal
from unittest import mock

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from optimization.llm import LLMError, Request, complete, complete_batch, fanout, usage_for
from optimization.llm import cache as response_cache
from optimization.models import CachedResponse, LLMCall

pytestmark = pytest.mark.django_db


def ask(text, **options):
    return Request(messages=[{"role": "user", "content": text}], **options)


def batch(n, **options):
    return [ask(f"question {i}", **options) for i in range(n)]


def test_a_second_identical_batch_makes_no_call(openai_server):
    first = complete_batch(batch(10), provider="openai")
    second = complete_batch(batch(10), provider="openai")

    assert len(openai_server.requests) == 10
    assert [c.text for c in second] == [c.text for c in first]
    assert all(c.cached for c in second) and not any(c.cached for c in first)
    assert [(c.input_tokens, c.output_tokens, c.finish_reason) for c in second] == [
        (c.input_tokens, c.output_tokens, c.finish_reason) for c in first
    ]
    assert set(CachedResponse.objects.values_list("hits", flat=True)) == {1}


def test_without_the_cache_it_calls_again_and_keeps_the_newer_answer(openai_server):
    complete_batch(batch(3), provider="openai")

    completions = complete_batch(batch(3), provider="openai", use_cache=False)

    assert len(openai_server.requests) == 6
    assert not any(c.cached for c in completions)
    assert CachedResponse.objects.count() == 3


def test_a_batch_costs_a_few_queries_per_group_of_answers_not_per_request(openai_server):
    # Paid answers are written as they arrive (a worker killed mid-batch loses only the calls in flight): a
    # lookup, then per group of answers that arrived together a savepoint, cache insert, ledger insert and
    # release. How the answers group depends on the machine's timing, so the groups are counted as they pass.
    groups = []

    def counted(*arguments):
        for group in original(*arguments):
            groups.append(len(group))
            yield group

    original = fanout.answers
    with mock.patch.object(fanout, "answers", counted), CaptureQueriesContext(connection) as paid:
        complete_batch(batch(60), provider="openai")
    with CaptureQueriesContext(connection) as cached:
        complete_batch(batch(60), provider="openai")

    assert sum(groups) == 60 and len(paid) == 1 + 4 * len(groups)
    assert len(cached) == 5  # lookup, then savepoint, hits update, ledger insert, release


def test_answers_that_arrive_together_are_written_together(openai_server):
    together = lambda *arguments: [[answer for group in original(*arguments) for answer in group]]  # noqa: E731
    original = fanout.answers
    with mock.patch.object(fanout, "answers", together):
        with CaptureQueriesContext(connection) as sixty:
            complete_batch(batch(60), provider="openai")
        with CaptureQueriesContext(connection) as five_hundred:
            complete_batch(batch(500, max_tokens=7), provider="openai")

    assert len(sixty) == 1 + 4
    assert len(five_hundred) < 20  # bulk writes, split only by the database's limit on parameters per query


def test_a_slow_providers_answers_are_kept_as_they_arrive(openai_server, settings):
    """A worker killed by SIGKILL (no `finally` runs) mid-batch has kept every answer that arrived before."""
    openai_server.latency, settings.OPENAI_CONCURRENCY = 0.05, 2
    sent_when_stored = []
    original = response_cache.store

    def store(provider, entries):
        sent_when_stored.append(len(openai_server.requests))
        return original(provider, entries)

    with mock.patch.object(response_cache, "store", store):
        complete_batch(batch(8), provider="openai")
    assert sent_when_stored[0] < 8  # the first answers were kept before the last requests were sent
    assert CachedResponse.objects.count() == 8


def test_the_key_is_the_provider_model_messages_and_parameters(openai_server):
    variants = [ask("q"), ask("q", model="gpt-4o"), ask("q", max_tokens=7), ask("q", temperature=0.5)]

    complete_batch(variants, provider="openai")

    assert len(openai_server.requests) == 4
    assert CachedResponse.objects.count() == 4


def test_samples_are_distinct_answers_only_when_sampling(openai_server):
    complete_batch([ask("q", temperature=0.7, sample=s) for s in (0, 1)], provider="openai")
    assert len(openai_server.requests) == 2

    greedy = complete_batch([ask("q", sample=0), ask("q", sample=1)], provider="openai")
    assert len(openai_server.requests) == 3  # at temperature 0 both samples are the same answer
    assert [c.cached for c in greedy] == [False, True]


def test_every_completion_handed_out_is_a_ledger_row(openai_server, run):
    openai_server.latency = 0.05
    complete_batch(batch(2), provider="openai", run=run, iteration=1, purpose="inference")
    complete_batch(batch(3), provider="openai", run=run, iteration=2, purpose="optimizer")

    rows = list(LLMCall.objects.filter(run=run).values())
    assert sorted((r["iteration"], r["purpose"], r["cached"]) for r in rows) == [
        (1, "inference", False),
        (1, "inference", False),
        (2, "optimizer", False),
        (2, "optimizer", True),
        (2, "optimizer", True),
    ]
    assert {(r["provider"], r["model"], r["input_tokens"], r["output_tokens"]) for r in rows} == {
        ("openai", "gpt-4o-mini", 2, 3)
    }
    assert all(r["latency_ms"] >= 50 for r in rows if not r["cached"])
    assert all(r["latency_ms"] == 0 and r["cost"] == 0 for r in rows if r["cached"])
    # gpt-4o-mini: $0.15 in and $0.60 out per million tokens, so 2 in and 3 out cost $0.0000021
    assert {r["cost"] for r in rows if not r["cached"]} == {Decimal("0.000002")}


def test_usage_sums_a_run_or_one_iteration(openai_server, run, settings):
    settings.LLM_PRICES = {"gpt-4o-mini": (1000.0, 2000.0)}  # 2 in and 3 out cost $0.008
    complete_batch(batch(2), provider="openai", run=run, iteration=1)
    complete_batch(batch(3), provider="openai", run=run, iteration=2)
    complete_batch(batch(1), provider="openai", model="unpriced-model", run=run, iteration=2)

    assert usage_for(run) == {
        "llm_calls": 4,
        "input_tokens": 8,
        "output_tokens": 12,
        "tokens": 20,
        "cost": Decimal("0.024"),
        "cache_hits": 2,
    }
    assert usage_for(run, iteration=1) == {
        "llm_calls": 2,
        "input_tokens": 4,
        "output_tokens": 6,
        "tokens": 10,
        "cost": Decimal("0.016"),
        "cache_hits": 0,
    }


def test_what_a_failed_batch_paid_for_is_kept(openai_server, settings, run):
    settings.OPENAI_CONCURRENCY = 1
    openai_server.script = ["ok", 400]

    with pytest.raises(LLMError, match="Invalid value for 'temperature'"):
        complete_batch(batch(3), provider="openai", run=run)

    assert LLMCall.objects.filter(run=run, cached=False).count() == 1
    again = complete_batch(batch(3), provider="openai", run=run)
    assert [c.cached for c in again] == [True, False, False]
    assert len(openai_server.requests) == 4


def test_a_request_without_a_run_is_accounted_too(openai_server):
    complete(ask("question"), provider="openai", purpose="preview")

    assert LLMCall.objects.get().purpose == "preview"
