"""The openai provider, through the whole layer, against an OpenAI-compatible server on loopback."""

import json
import pickle
import time

import pytest

from optimization.llm import LLMError, Request, complete, complete_batch

pytestmark = pytest.mark.django_db


def ask(text, **options):
    return Request([{"role": "system", "content": "Be brief."}, {"role": "user", "content": text}], **options)


def test_it_answers_a_batch_in_order(openai_server):
    completions = complete_batch([ask(f"question {i}", max_tokens=20) for i in range(20)], provider="openai")

    assert [c.text for c in completions] == [f"echo: question {i}" for i in range(20)]
    assert {(c.input_tokens, c.output_tokens, c.finish_reason, c.cached) for c in completions} == {
        (4, 3, "stop", False)
    }
    assert len(openai_server.requests) == 20
    body = openai_server.requests[0]
    assert body["model"] == "gpt-4o-mini"
    assert body["temperature"] == 0.0
    assert body["max_tokens"] == 20
    assert body["messages"][0] == {"role": "system", "content": "Be brief."}


def test_it_uses_the_model_asked_for(openai_server):
    complete_batch([ask("a"), ask("b", model="gpt-4o")], provider="openai", model="gpt-4.1")

    assert sorted(body["model"] for body in openai_server.requests) == ["gpt-4.1", "gpt-4o"]


def test_it_reports_a_cut_answer_as_length(openai_server):
    completion = complete(ask("a long question indeed", max_tokens=2), provider="openai")

    assert completion.text == "echo: a"
    assert completion.finish_reason == "length"


def test_it_asks_for_structured_output_with_the_json_schema(openai_server):
    schema = {"title": "Answer", "type": "object", "properties": {"echo": {"type": "string"}}}

    completion = complete(ask("capital of France", schema=schema), provider="openai")

    assert json.loads(completion.text) == {"echo": "capital of France"}
    assert openai_server.requests[0]["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "Answer", "schema": schema},
    }


def test_a_refused_request_fails_at_once_with_the_servers_words(openai_server, settings):
    settings.OPENAI_CONCURRENCY = 1
    openai_server.always = 401

    with pytest.raises(LLMError) as failure:
        complete_batch([ask(f"question {i}") for i in range(5)], provider="openai")

    assert not failure.value.retryable
    assert "Incorrect API key provided" in str(failure.value)
    assert str(failure.value).startswith("openai (gpt-4o-mini): Error code: 401")
    assert len(openai_server.requests) == 1  # no retry, and the rest of the batch is not sent


def test_it_waits_as_long_as_retry_after_says(openai_server):
    openai_server.retry_after = "1"
    openai_server.script = [429]
    started = time.monotonic()

    completion = complete(ask("question"), provider="openai")

    assert completion.text == "echo: question"
    assert time.monotonic() - started >= 1.0  # the backoff alone would wait a few hundredths
    assert openai_server.outcomes == {429: 1, "ok": 1}


def test_it_retries_an_answer_that_comes_too_late(openai_server, settings):
    settings.LLM_TIMEOUT = 0.3
    openai_server.slow_seconds = 1.0
    openai_server.script = ["slow", 500]

    completion = complete(ask("question"), provider="openai")

    assert completion.text == "echo: question"
    assert openai_server.outcomes == {"slow": 1, 500: 1, "ok": 1}


def test_a_batch_gets_every_answer_when_30_percent_of_responses_fail(openai_server, settings):
    settings.LLM_TIMEOUT = 0.3
    settings.OPENAI_CONCURRENCY = 16
    openai_server.slow_seconds = 0.6
    openai_server.failure_rate = 0.3

    completions = complete_batch([ask(f"question {i}") for i in range(80)], provider="openai")

    assert [c.text for c in completions] == [f"echo: question {i}" for i in range(80)]
    responses = sum(openai_server.outcomes.values())
    failed = responses - openai_server.outcomes["ok"]
    assert {429, 500, "slow"} <= set(openai_server.outcomes)
    assert 0.15 <= failed / responses <= 0.45


def test_a_batch_that_always_fails_ends_with_a_readable_error_after_bounded_retries(openai_server, settings):
    settings.LLM_TIMEOUT = 0.2
    settings.LLM_MAX_RETRIES = 3
    openai_server.slow_seconds = 0.4
    openai_server.failure_rate = 1.0
    openai_server.max_failures_in_a_row = 1000

    with pytest.raises(LLMError) as failure:
        complete_batch([ask(f"question {i}") for i in range(6)], provider="openai")

    assert failure.value.retryable
    assert "gave up after 4 attempts" in str(failure.value)
    reasons = ("Rate limit reached", "server had an error", "No answer within 0.2 s")
    assert any(reason in str(failure.value) for reason in reasons)
    assert 4 <= len(openai_server.requests) <= 6 * 4


def test_it_retries_a_server_it_cannot_reach_then_says_so(openai_server, settings):
    settings.LLM_MAX_RETRIES = 2
    settings.OPENAI_BASE_URL = "http://127.0.0.1:1/v1"  # nothing listens there: connection refused

    with pytest.raises(LLMError) as failure:
        complete(ask("question"), provider="openai")

    assert failure.value.retryable
    assert "Could not reach http://127.0.0.1:1/v1" in str(failure.value)
    assert "gave up after 3 attempts" in str(failure.value)


def test_it_keeps_no_more_calls_in_flight_than_the_concurrency_limit(openai_server, settings):
    settings.OPENAI_CONCURRENCY = 3
    openai_server.latency = 0.05

    complete_batch([ask(f"question {i}") for i in range(12)], provider="openai")

    assert openai_server.max_in_flight == 3


def test_it_spreads_requests_under_a_requests_per_minute_limit(openai_server, settings):
    settings.LLM_REQUESTS_PER_MINUTE = 1200  # 20 a second
    started = time.monotonic()

    complete_batch([ask(f"question {i}") for i in range(40)], provider="openai")

    assert time.monotonic() - started >= 0.9  # 20 at once, then 20 more at 20 a second


def test_it_spreads_requests_under_a_tokens_per_minute_limit(openai_server, settings):
    settings.LLM_TOKENS_PER_MINUTE = 12_000  # 200 a second
    long_question = " ".join(["word"] * 100)  # about 125 tokens by our estimate, 104 by the server's
    started = time.monotonic()

    complete_batch([ask(f"{i} {long_question}", max_tokens=10) for i in range(6)], provider="openai")

    assert time.monotonic() - started >= 1.5  # ~650 tokens, 200 of them at once


def test_the_error_survives_a_task_queue(openai_server):
    openai_server.always = 404
    with pytest.raises(LLMError) as failure:
        complete(ask("question"), provider="openai")

    copy = pickle.loads(pickle.dumps(failure.value))

    assert (str(copy), copy.retryable) == (str(failure.value), False)


def test_an_unknown_provider_is_an_error(openai_server):
    with pytest.raises(LLMError, match="Unknown LLM provider 'anthropic'"):
        complete(ask("question"), provider="anthropic")
