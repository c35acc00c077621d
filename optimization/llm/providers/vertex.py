"""Gemini on Vertex AI: the only module that uses the google-genai SDK.

Production authenticates with application-default credentials. VERTEX_ACCESS_TOKEN, if set, is used as
a ready OAuth token instead (it is not refreshed), and VERTEX_BASE_URL points the SDK at another host;
tests use both to talk to a server on loopback.
"""

import contextlib
import time

import google.auth.exceptions
import httpx2
from django.conf import settings
from google import genai
from google.genai import errors, types
from google.oauth2.credentials import Credentials

from .. import per_process
from ..interface import Completion, LLMError, retry_after

RATE_LIMITED = True
_FINISH_REASONS = {"STOP": "stop", "MAX_TOKENS": "length"}


def default_model():
    return settings.VERTEX_MODEL


def concurrency():
    return settings.VERTEX_CONCURRENCY


def complete(request, model):
    system, contents = contents_of(request.messages)
    structured = {}
    if request.schema is not None:
        structured = {"response_mime_type": "application/json", "response_schema": request.schema}
    config = types.GenerateContentConfig(
        system_instruction=system,
        temperature=request.temperature,
        max_output_tokens=request.max_tokens,
        automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
        **structured,
    )
    started = time.perf_counter()
    with sdk_errors():
        response = client().models.generate_content(model=model, contents=contents, config=config)
    return completion_of(response, time.perf_counter() - started)


@contextlib.contextmanager
def sdk_errors():
    """What the SDK raises, as an LLMError that says whether asking again can help."""
    try:
        yield
    except errors.APIError as error:
        raise _api_error(error) from error
    except httpx2.TimeoutException as error:
        raise LLMError(f"No answer within {settings.LLM_TIMEOUT:g} s.", retryable=True) from error
    except (httpx2.TransportError, google.auth.exceptions.TransportError) as error:
        raise LLMError(f"Could not reach Vertex AI: {error}", retryable=True) from error
    except google.auth.exceptions.GoogleAuthError as error:
        raise LLMError(f"Google credentials: {error}", retryable=False) from error


def completion_of(response, latency):
    """The Completion in a GenerateContentResponse (online, or one line of a batch job's output)."""
    if not response.candidates:
        blocked = response.prompt_feedback and response.prompt_feedback.block_reason
        raise LLMError(f"Vertex AI gave no answer (prompt blocked: {blocked}).", retryable=False)
    candidate = response.candidates[0]
    usage = response.usage_metadata or types.GenerateContentResponseUsageMetadata()
    finish = str(getattr(candidate.finish_reason, "value", candidate.finish_reason or ""))
    return Completion(
        text=response.text or "",
        input_tokens=usage.prompt_token_count or 0,
        # Gemini 2.5 thinks before it answers; the thinking is billed as output.
        output_tokens=(usage.candidates_token_count or 0) + (usage.thoughts_token_count or 0),
        latency=latency,
        finish_reason=_FINISH_REASONS.get(finish, finish.lower()),
    )


def contents_of(messages):
    """Vertex takes the system prompt apart from the turns, and calls the assistant `model`."""
    system = "\n\n".join(m["content"] for m in messages if m["role"] == "system") or None
    contents = [
        {"role": "model" if m["role"] == "assistant" else "user", "parts": [{"text": m["content"]}]}
        for m in messages
        if m["role"] != "system"
    ]
    if not contents:
        raise LLMError("Vertex AI needs a user message besides the system prompt.", retryable=False)
    return system, contents


def client():
    config = (
        settings.VERTEX_PROJECT or None,
        settings.VERTEX_LOCATION or None,
        settings.VERTEX_BASE_URL or None,
        settings.VERTEX_ACCESS_TOKEN,
        settings.LLM_TIMEOUT,
    )
    return per_process.instance(("vertex", *config), lambda: _build_client(*config))


def _build_client(project, location, base_url, token, timeout):
    try:
        return genai.Client(
            vertexai=True,
            project=project,
            location=location,
            credentials=Credentials(token=token) if token else None,
            # No retry_options: the SDK then tries once, and our retry policy is the only one.
            http_options=types.HttpOptions(base_url=base_url, timeout=int(timeout * 1000)),
        )
    except (ValueError, google.auth.exceptions.GoogleAuthError) as error:
        message = f"Vertex AI is not set up (VERTEX_PROJECT, credentials): {error}"
        raise LLMError(message, retryable=False) from error


def _api_error(error):
    code = error.code or 0
    retryable = code in (408, 429) or code >= 500
    headers = getattr(error.response, "headers", None)
    message = f"Error code: {code} {error.status or ''} - {error.message or error.details}"
    return LLMError(message, retryable, retry_after=retry_after(headers))
