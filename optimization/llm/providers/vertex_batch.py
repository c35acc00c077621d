"""Vertex AI batch prediction for Gemini: the only module that creates, reads and cancels batch prediction jobs.

It speaks Vertex's batchPredictionJobs REST API through google-cloud-aiplatform's `JobServiceClient` (the v1
GAPIC client, REST transport), at the regional endpoint of VERTEX_LOCATION, or at VERTEX_BASE_URL when set (an
http:// URL on loopback in the tests), with the credentials the online provider uses: application-default in
production, VERTEX_ACCESS_TOKEN when set. Reading a job's output lines still uses google-genai's types, so a
batch answer becomes a Completion exactly as an online one does.

A job reads a JSONL file of {"key", "request": GenerateContentRequest} lines from Cloud Storage and writes
predictions*.jsonl files of {"key", "request", "response" | "status"} lines under its output directory.
The key is also a request label, so a line can be matched to its request whichever of the two Vertex echoes.
"""

import contextlib
from dataclasses import dataclass

import google.auth
import google.auth.exceptions
import requests
from django.conf import settings
from google.api_core import exceptions
from google.genai import types
from google.oauth2.credentials import Credentials

from .. import per_process, retries
from ..interface import LLMError, retry_after
from .vertex import completion_of, contents_of

LABEL = "promptopt_key"
SUCCEEDED = ("JOB_STATE_SUCCEEDED", "JOB_STATE_PARTIALLY_SUCCEEDED")  # partly: the lines that failed say why
FAILED = ("JOB_STATE_FAILED", "JOB_STATE_CANCELLED", "JOB_STATE_EXPIRED")
# Any other state (queued, pending, running, cancelling, updating, paused) is a job still on its way.


@dataclass(frozen=True)
class Job:
    name: str  # projects/…/locations/…/batchPredictionJobs/…
    state: str  # JOB_STATE_…
    error: str  # the job's error message, when it has one
    output_dir: str  # gs://… where it wrote its predictions, once it has

    @property
    def succeeded(self):
        return self.state in SUCCEEDED

    @property
    def failed(self):
        return self.state in FAILED


def request_line(key, request):
    """One line of a job's input: the GenerateContentRequest the online call would send, as REST JSON."""
    system, contents = contents_of(request.messages)
    config = {"temperature": request.temperature, "maxOutputTokens": request.max_tokens}
    if request.schema is not None:
        config |= {"responseMimeType": "application/json", "responseJsonSchema": request.schema}
    body = {"contents": contents, "generationConfig": config, "labels": {LABEL: key}}
    if system:
        body["systemInstruction"] = {"role": "user", "parts": [{"text": system}]}
    return {"key": key, "request": body}


def answer_of(line):
    """(key, Completion, None) for a line of a job's output, or (key, None, why) for a request it did not answer."""
    key = line.get("key") or ((line.get("request") or {}).get("labels") or {}).get(LABEL)
    response = line.get("response")
    if line.get("status") or not response:
        return key, None, line.get("status") or "no response"
    try:
        completion = completion_of(types.GenerateContentResponse._from_response(response=response, kwargs={}), 0.0)
    except LLMError as error:
        return key, None, error.message
    return key, completion, None


def submit(*, model, input_uri, output_uri, display_name):
    from google.cloud import aiplatform_v1  # imported on first use: see _build_client

    job = aiplatform_v1.BatchPredictionJob(
        display_name=display_name,
        model=model if "/" in model else f"publishers/google/models/{model}",
        input_config={"instances_format": "jsonl", "gcs_source": {"uris": [input_uri]}},
        output_config={"predictions_format": "jsonl", "gcs_destination": {"output_uri_prefix": output_uri}},
    )

    def create():
        with sdk_errors():
            client, parent = _client()
            return _job(client.create_batch_prediction_job(parent=parent, batch_prediction_job=job, **_once()))

    attempts = retries.retrying(worth=_refused_for_now)
    try:
        return attempts(create)
    except LLMError as error:
        error.message = retries.explained(error, attempts.statistics.get("attempt_number", 1))
        error.args = (error.message,)
        raise


def _refused_for_now(error):
    """A creation Vertex refused for now (quota, or the service unavailable) made no job, so it can be asked again.
    Not after a time-out or an internal error: the job may exist, and a second one would be paid for twice."""
    return retries.worth_retrying(error) and error.status_code in (429, 503)


def get(name):
    with sdk_errors():
        client, _ = _client()
        return _job(client.get_batch_prediction_job(name=name, **_once()))


def cancel(name):
    with sdk_errors():
        client, _ = _client()
        client.cancel_batch_prediction_job(name=name, **_once())


def _once():
    """No retry in the SDK (our retry policy is the only one), and the time limit of an online call."""
    return {"retry": None, "timeout": settings.LLM_TIMEOUT}


def _job(job):
    state = getattr(job.state, "name", None) or f"JOB_STATE_{job.state}"  # a state newer than this SDK: its number
    error = ""
    if job.error.code or job.error.message:
        error = job.error.message or f"error code {job.error.code}"
    return Job(name=job.name, state=state, error=error, output_dir=job.output_info.gcs_output_directory)


@contextlib.contextmanager
def sdk_errors():
    """What the SDK raises, as an LLMError that says whether asking again can help."""
    try:
        yield
    except exceptions.GoogleAPICallError as error:
        raise _api_error(error) from error
    except requests.Timeout as error:
        raise LLMError(f"No answer within {settings.LLM_TIMEOUT:g} s.", retryable=True) from error
    except (requests.ConnectionError, google.auth.exceptions.TransportError) as error:
        raise LLMError(f"Could not reach Vertex AI: {error}", retryable=True) from error
    except google.auth.exceptions.GoogleAuthError as error:
        raise LLMError(f"Google credentials: {error}", retryable=False) from error


def _api_error(error):
    """Vertex's own words: the status and message of the error body, not the SDK's `POST <url>: …` wrapping."""
    code = error.code or 0
    try:
        body = error.response.json()["error"]
        status, message = body.get("status", ""), body.get("message") or error.message
    except (AttributeError, TypeError, ValueError, KeyError):
        status, message = getattr(error.grpc_status_code, "name", ""), error.message
    retryable = code in (408, 429) or code >= 500
    headers = getattr(error.response, "headers", None)
    return LLMError(f"Error code: {code} {status} - {message}", retryable, retry_after=retry_after(headers),
                    status_code=code or None)


def _client():
    """(JobServiceClient, "projects/…/locations/…"), built once per process and configuration."""
    config = (
        settings.VERTEX_PROJECT or None,
        settings.VERTEX_LOCATION or "us-central1",
        settings.VERTEX_BASE_URL or None,
        settings.VERTEX_ACCESS_TOKEN,
    )
    return per_process.instance(("vertex-batch", *config), lambda: _build_client(*config))


def _build_client(project, location, base_url, token):
    # Imported here, not at the top: google.cloud.aiplatform_v1 takes seconds to import on a loaded machine, and
    # the web process imports this module for its first page; only batch jobs need it.
    from google.cloud import aiplatform_v1

    if token:
        credentials = Credentials(token=token)
    else:
        credentials, found = google.auth.default(scopes=["https://www.googleapis.com/auth/cloud-platform"])
        project = project or found
    if not project:
        raise LLMError("Vertex AI is not set up: set VERTEX_PROJECT.", retryable=False)
    # The REST transport keeps an endpoint's http:// or https://, and puts https:// before a bare host name.
    if base_url:
        endpoint = base_url.rstrip("/")
    else:
        endpoint = "aiplatform.googleapis.com" if location == "global" else f"{location}-aiplatform.googleapis.com"
    client = aiplatform_v1.JobServiceClient(
        transport="rest", credentials=credentials, client_options={"api_endpoint": endpoint}
    )
    return client, f"projects/{project}/locations/{location}"
