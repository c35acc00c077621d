"""Vertex AI batch prediction for Gemini: the only module that creates, reads and cancels batch prediction jobs.

It speaks Vertex's batchPredictionJobs REST API through google-genai's `batches` (the SDK `vertex.py` already
uses, with the same client, credentials and base URL), not through google-cloud-aiplatform: every release of
that package conflicts with the pinned google-genai 3 (2.x requires google-genai < 3; 1.x, google-cloud-storage
< 3 and protobuf < 7), so installing it would downgrade packages the rest of PromptOpt runs on.

A job reads a JSONL file of {"key", "request": GenerateContentRequest} lines from Cloud Storage and writes
predictions*.jsonl files of {"key", "request", "response" | "status"} lines under its output directory.
The key is also a request label, so a line can be matched to its request whichever of the two Vertex echoes.
"""

from dataclasses import dataclass

from google.genai import types

from ..interface import LLMError
from .vertex import client, completion_of, contents_of, sdk_errors

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
    with sdk_errors():
        job = client().batches.create(
            model=model,
            src=input_uri,
            config=types.CreateBatchJobConfig(display_name=display_name, dest=output_uri),
        )
    return _job(job)


def get(name):
    with sdk_errors():
        return _job(client().batches.get(name=name))


def cancel(name):
    with sdk_errors():
        client().batches.cancel(name=name)


def _job(job):
    state = str(getattr(job.state, "value", job.state or "JOB_STATE_UNSPECIFIED"))
    error = ""
    if job.error is not None:
        error = job.error.message or f"error code {job.error.code}"
    output_dir = (job.output_info and job.output_info.gcs_output_directory) or ""
    return Job(name=job.name or "", state=state, error=error, output_dir=output_dir)
