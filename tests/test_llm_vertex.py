"""The vertex provider, through the whole layer, with the real google-genai SDK against a loopback server."""

import json
import socket
from decimal import Decimal

import pytest

from optimization.llm import LLMError, Request, complete, complete_batch, usage_for

pytestmark = pytest.mark.django_db

GENERATE = "/v1beta1/projects/test-project/locations/us-central1/publishers/google/models/{}:generateContent"


def conversation(question):
    return [
        {"role": "system", "content": "Answer in one word."},
        {"role": "user", "content": "Capital of Italy?"},
        {"role": "assistant", "content": "Rome"},
        {"role": "user", "content": question},
    ]


def test_it_sends_the_conversation_to_generate_content(vertex_server):
    completion = complete(Request(conversation("Capital of France?"), max_tokens=16), provider="vertex")

    assert completion.text == "echo: Capital of France?"
    assert (completion.input_tokens, completion.output_tokens, completion.finish_reason) == (11, 4, "stop")
    [(path, headers, body)] = vertex_server.received
    assert path == GENERATE.format("gemini-2.5-flash")
    assert headers["Authorization"] == "Bearer test"
    assert body["contents"] == [
        {"role": "user", "parts": [{"text": "Capital of Italy?"}]},
        {"role": "model", "parts": [{"text": "Rome"}]},
        {"role": "user", "parts": [{"text": "Capital of France?"}]},
    ]
    assert body["systemInstruction"]["parts"] == [{"text": "Answer in one word."}]
    assert body["generationConfig"] == {"temperature": 0.0, "maxOutputTokens": 16}


def test_it_asks_for_structured_output_with_the_response_schema(vertex_server):
    schema = {"type": "object", "properties": {"echo": {"type": "string"}}, "required": ["echo"]}

    completion = complete(Request(conversation("Capital of Spain?"), schema=schema), provider="vertex")

    assert json.loads(completion.text) == {"echo": "Capital of Spain?"}
    config = vertex_server.received[0][2]["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    assert config["responseSchema"] == {
        "type": "OBJECT",
        "properties": {"echo": {"type": "STRING"}},
        "required": ["echo"],
    }


def test_thinking_counts_as_output(vertex_server):
    vertex_server.thoughts_tokens = 50

    completion = complete(Request(conversation("Capital of Chile?")), provider="vertex")

    assert completion.output_tokens == 4 + 50


def test_it_uses_the_model_asked_for(vertex_server):
    complete(Request(conversation("?")), provider="vertex", model="gemini-2.5-pro")

    assert vertex_server.received[0][0] == GENERATE.format("gemini-2.5-pro")


def test_an_invalid_request_fails_at_once_with_the_servers_words(vertex_server):
    vertex_server.always = 400

    with pytest.raises(LLMError) as failure:
        complete(Request(conversation("?")), provider="vertex")

    assert not failure.value.retryable
    assert str(failure.value) == (
        "vertex (gemini-2.5-flash): Error code: 400 INVALID_ARGUMENT - Request contains an invalid argument."
    )
    assert len(vertex_server.received) == 1


def test_it_retries_an_exhausted_quota_and_an_unavailable_service(vertex_server):
    vertex_server.script = [429, 503]

    completion = complete(Request(conversation("Capital of Peru?")), provider="vertex")

    assert completion.text == "echo: Capital of Peru?"
    assert vertex_server.outcomes == {429: 1, 503: 1, "ok": 1}


def test_a_vertex_it_cannot_reach_is_retried_then_named(vertex_server, settings):
    with socket.socket() as closed:  # a port nothing listens on once the socket is closed
        closed.bind(("127.0.0.1", 0))
        settings.VERTEX_BASE_URL = f"http://127.0.0.1:{closed.getsockname()[1]}"

    with pytest.raises(LLMError) as failure:
        complete(Request(conversation("Capital of Chile?")), provider="vertex")

    assert failure.value.retryable and "Could not reach Vertex AI" in str(failure.value)
    assert vertex_server.received == []


def test_a_batch_is_accounted_at_gemini_prices(vertex_server, run):
    system = {"role": "system", "content": "You answer questions about world geography in one word."}  # 9 words
    requests = [Request([system, {"role": "user", "content": f"Country{i}?"}]) for i in range(3)]

    complete_batch(requests, provider="vertex", run=run, iteration=1)

    usage = usage_for(run)
    assert (usage["llm_calls"], usage["input_tokens"], usage["output_tokens"]) == (3, 30, 6)
    # gemini-2.5-flash: $0.30 in and $2.50 out per million tokens, so 10 in and 2 out cost $0.000008
    assert usage["cost"] == Decimal("0.000024")
