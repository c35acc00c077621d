"""The embedded model (SmolLM2-135M-Instruct in llama.cpp), for real, through the whole layer."""

import json

import pytest

from optimization.llm import LLMError, Request, complete, complete_batch, usage_for

pytestmark = [pytest.mark.django_db, pytest.mark.embedded]


def ask(text, max_tokens=16, **options):
    return Request([{"role": "user", "content": text}], max_tokens=max_tokens, **options)


def test_it_answers_questions(run):
    questions = [ask("What is the capital of France? Answer in one word."), ask("Say hello.")]

    completions = complete_batch(questions, provider="embedded", run=run)

    assert "Paris" in completions[0].text
    assert all(c.text and c.input_tokens > 0 and c.output_tokens > 0 and not c.cached for c in completions)
    assert usage_for(run)["llm_calls"] == 2
    assert usage_for(run)["cost"] == 0


def test_it_stops_at_max_tokens():
    completion = complete(ask("Write a long poem about the sea.", max_tokens=4), provider="embedded")

    assert completion.output_tokens == 4
    assert completion.finish_reason == "length"


def test_structured_output_follows_the_schema():
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "country": {"type": "string"}},
        "required": ["city", "country"],
    }

    question = ask("Name a city and its country, as JSON.", schema=schema, max_tokens=48)

    completion = complete(question, provider="embedded")

    answer = json.loads(completion.text)
    assert set(answer) == {"city", "country"}
    assert all(isinstance(value, str) for value in answer.values())


def test_a_repeated_question_is_answered_from_the_cache():
    question = ask("Name a colour.", max_tokens=8)
    first = complete(question, provider="embedded")

    second = complete(question, provider="embedded")

    assert second.cached and second.text == first.text and second.latency == 0


def test_samples_at_a_temperature_are_reproducible():
    samples = [ask("Invent a name for a cat.", temperature=1.0, sample=i, max_tokens=12) for i in (0, 1)]

    first = complete_batch(samples, provider="embedded", use_cache=False)
    again = complete_batch(samples, provider="embedded", use_cache=False)

    assert [c.text for c in again] == [c.text for c in first]


def test_it_runs_only_its_own_model():
    with pytest.raises(LLMError, match="runs smollm2-135m-instruct only") as failure:
        complete(ask("Hello"), provider="embedded", model="llama-3-8b")

    assert not failure.value.retryable


def test_a_prompt_longer_than_the_context_is_refused(settings):
    settings.LLM_EMBEDDED_CONTEXT = 256

    with pytest.raises(LLMError, match="could not answer") as failure:
        complete(ask("word " * 400, max_tokens=8), provider="embedded")

    assert not failure.value.retryable
