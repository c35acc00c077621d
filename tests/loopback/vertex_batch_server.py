"""Vertex AI's batchPredictionJobs REST API (v1) on loopback, beside generateContent, for the REST transport of
google-cloud-aiplatform's JobServiceClient: create (POST …/batchPredictionJobs), get (GET …/batchPredictionJobs/ID)
and cancel (POST …/batchPredictionJobs/ID:cancel), with their JSON field names.

As Vertex does, it refuses a request without a bearer token (401) and a job without a display name, model, input
or output (400). A job reads its JSONL input from the storage emulator's bucket and, on the check that finds it
succeeded, writes predictions.jsonl under `<outputUriPrefix>/prediction-model-<time>/`, as Vertex does. Each check
of a job moves it one state along `states` (the last one stays).
"""

import asyncio
import itertools
import json

from aiohttp import web

from .vertex_server import ERRORS, VertexServer

JOBS = "/{version}/projects/{project}/locations/{location}/batchPredictionJobs"


class VertexBatchServer(VertexServer):
    def __init__(self, bucket, **kwargs):
        super().__init__(**kwargs)
        self.bucket = bucket  # google.cloud.storage Bucket of the emulator
        self.states = ["JOB_STATE_PENDING", "JOB_STATE_RUNNING", "JOB_STATE_SUCCEEDED"]
        self.plans = []  # the states of the next jobs created, one list each; then `states`
        self.error = {"code": 3, "message": "The input file holds an invalid request."}  # of a job that fails
        self.refuse = None  # an HTTP status from ERRORS: how job creation is refused
        self.refusals = []  # HTTP statuses from ERRORS that refuse the next creations, one each, before `refuse`
        self.unanswered = 0  # the first lines of each job's output answered with an error status instead
        self.jobs = {}  # id -> {"job": the job as returned, "states": what its next checks find}
        self.created = []  # the bodies of the jobs created
        self.checks = 0
        self.cancelled = []
        self._ids = itertools.count(1001)

    def routes(self):
        return [
            web.post(JOBS, self.create_job),
            web.get(JOBS + "/{job}", self.get_job),
            web.post(JOBS + "/{job_action}", self.cancel_job),
            *super().routes(),
        ]

    async def create_job(self, request):
        body = await request.json()
        refused = self._refusal(request) or (self.refusals.pop(0) if self.refusals else self.refuse)
        missing = [field for field in ("displayName", "model", "inputConfig", "outputConfig") if not body.get(field)]
        if refused or missing:
            status, message = ERRORS[refused or 400]
            if missing and not refused:
                message = f"{message} Missing: {', '.join(missing)}."
            return _error(refused or 400, status, message)
        self.created.append(body)
        job_id = str(next(self._ids))
        parent = request.path.split("/", 2)[2].rsplit("/", 1)[0]  # projects/…/locations/…
        job = {
            "name": f"{parent}/batchPredictionJobs/{job_id}",
            "displayName": body.get("displayName", ""),
            "model": body["model"],
            "inputConfig": body["inputConfig"],
            "outputConfig": body["outputConfig"],
            "state": "JOB_STATE_PENDING",
            "createTime": "2026-12-05T02:00:00Z",
        }
        self.jobs[job_id] = {"job": job, "states": list(self.plans.pop(0) if self.plans else self.states)}
        return web.json_response(job)

    async def get_job(self, request):
        if refused := self._refusal(request):
            return _error(refused, *ERRORS[refused])
        self.checks += 1
        entry = self.jobs.get(request.match_info["job"])
        if entry is None:
            return _error(404, "NOT_FOUND", "The BatchPredictionJob does not exist.")
        job, states = entry["job"], entry["states"]
        state = states.pop(0) if len(states) > 1 else states[0]
        if state == "JOB_STATE_SUCCEEDED" and "outputInfo" not in job:
            job["outputInfo"] = {"gcsOutputDirectory": await asyncio.to_thread(self._predict, job)}
        if state in ("JOB_STATE_FAILED", "JOB_STATE_EXPIRED"):
            job["error"] = self.error
        job["state"] = state
        return web.json_response(job)

    async def cancel_job(self, request):
        if refused := self._refusal(request):
            return _error(refused, *ERRORS[refused])
        job_id, _, action = request.match_info["job_action"].partition(":")
        if action != "cancel" or job_id not in self.jobs:
            return _error(404, "NOT_FOUND", "Not found.")
        self.cancelled.append(job_id)
        self.jobs[job_id]["states"] = ["JOB_STATE_CANCELLED"]
        return web.json_response({})

    def _refusal(self, request):
        """401 for a request without credentials, as Vertex answers it."""
        return None if request.headers.get("Authorization", "").startswith("Bearer ") else 401

    def _predict(self, job):
        """Answer every line of the job's input, and write the answers where Vertex writes them."""
        [uri] = job["inputConfig"]["gcsSource"]["uris"]
        lines = self.bucket.blob(self._blob_name(uri)).download_as_bytes().decode().splitlines()
        model = job["model"].rsplit("/", 1)[-1]
        answers = []
        for number, line in enumerate(lines):
            row = json.loads(line)
            if number < self.unanswered:
                row["status"] = "Internal error occurred. Failed to get generateContentResponse."
            else:
                row["status"] = ""
                row["response"] = self.response_to(row["request"], model)
            answers.append(json.dumps(row))
        directory = f"{job['outputConfig']['gcsDestination']['outputUriPrefix']}/prediction-model-2026-12-05T02:00:00"
        blob = self.bucket.blob(f"{self._blob_name(directory)}/predictions.jsonl")
        blob.upload_from_string("\n".join(answers) + "\n")
        return directory

    def _blob_name(self, uri):
        prefix = f"gs://{self.bucket.name}/"
        assert uri.startswith(prefix), uri
        return uri[len(prefix):]


def _error(code, status, message):
    return web.json_response({"error": {"code": code, "message": message, "status": status}}, status=code)
