"""OpenAI, or any server speaking its chat completions API: the only module that uses the openai SDK."""

import time

import openai
from django.conf import settings

from .. import per_process
from ..interface import Completion, LLMError, retry_after

RATE_LIMITED = True


def default_model():
    return settings.OPENAI_MODEL


def concurrency():
    return settings.OPENAI_CONCURRENCY


def complete(request, model):
    client = _client()
    started = time.perf_counter()
    try:
        response = client.chat.completions.create(
            model=model,
            messages=request.messages,
            temperature=request.temperature,
            **_length_limit(request.max_tokens),
            **_response_format(request.schema),
        )
    except openai.APIStatusError as error:
        raise _status_error(error) from error
    except openai.APITimeoutError as error:
        raise LLMError(f"No answer within {settings.LLM_TIMEOUT:g} s.", retryable=True) from error
    except openai.APIConnectionError as error:
        cause = error.__cause__ or error
        raise LLMError(f"Could not reach {client.base_url}: {cause}", retryable=True) from error
    except openai.OpenAIError as error:
        raise LLMError(f"The OpenAI API's answer could not be read: {error}", retryable=False) from error
    latency = time.perf_counter() - started
    if not response.choices:
        raise LLMError("The OpenAI API answered with no choices.", retryable=True)
    choice = response.choices[0]
    usage = response.usage
    return Completion(
        text=choice.message.content or "",
        input_tokens=usage.prompt_tokens if usage else 0,
        output_tokens=usage.completion_tokens if usage else 0,
        latency=latency,
        finish_reason=(choice.finish_reason or "").lower(),
    )


def _client():
    base_url = settings.OPENAI_BASE_URL or None
    api_key = settings.OPENAI_API_KEY
    if not api_key:
        if base_url is None:
            raise LLMError("Set OPENAI_API_KEY to use the openai provider.", retryable=False)
        api_key = "none"  # Local OpenAI-compatible servers usually want no key, but the SDK wants one.
    timeout = settings.LLM_TIMEOUT
    return per_process.instance(
        ("openai", base_url, api_key, timeout),
        # Our retry policy (tenacity, in fanout) is the only one: the SDK's own would multiply attempts.
        lambda: openai.OpenAI(base_url=base_url, api_key=api_key, timeout=timeout, max_retries=0),
    )


def _length_limit(max_tokens):
    # OpenAI's own API wants max_completion_tokens (its reasoning models refuse max_tokens); the servers
    # that copy its API (vLLM, llama.cpp, Ollama...) have understood max_tokens for longest.
    if settings.OPENAI_BASE_URL:
        return {"max_tokens": max_tokens}
    return {"max_completion_tokens": max_tokens}


def _response_format(schema):
    if schema is None:
        return {}
    name = "".join(c if c.isalnum() or c in "_-" else "_" for c in str(schema.get("title", "answer")))[:64]
    return {"response_format": {"type": "json_schema", "json_schema": {"name": name, "schema": schema}}}


def _status_error(error):
    status = error.status_code
    retryable = status in (408, 409, 429) or status >= 500
    return LLMError(error.message, retryable, retry_after=retry_after(error.response.headers))
