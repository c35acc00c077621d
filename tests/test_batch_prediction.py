"""Vertex AI batch prediction for large inference steps: google-cloud-aiplatform's JobServiceClient (REST) against a
loopback server speaking Vertex's batchPredictionJobs REST API, the input and output files in the storage emulator.

The loopback model answers an example right only when the prompt names the answer format (as in test_loop.py), so a
run has something to find, online or in batch.
"""

import io
import json
import socket
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.utils import timezone
from django_q.models import Schedule

from optimization import answers, loop
from optimization.batch_prediction import services
from optimization.llm import ledger, usage_for
from optimization.models import BatchJob, Iteration, LLMCall, Prediction, RunStatus, Step
from optimization.prompting import answer_token_budget
from optimization.services import prompt_create, run_cancel, run_create
from optimization.strategies.operators import FORMAT_MARK
from optimization.views.run_evidence import progress_words
from tests.loopback.fixtures import use_vertex_server
from tests.loopback.vertex_batch_server import VertexBatchServer

CHECK = "optimization.batch_prediction.services.check"
JOB_NAME = "projects/test-project/locations/us-central1/batchPredictionJobs/{}"


class StudentOnVertex(VertexBatchServer):
    def __init__(self, answers, bucket):
        super().__init__(bucket)
        self.answers = answers  # example input -> expected answer

    def text_for(self, body):
        user = body["contents"][-1]["parts"][-1]["text"]
        example = next((text for text in self.answers if text in user), None)
        return self.answers[example] if example and FORMAT_MARK in user else "Well, it depends on the game."


@pytest.fixture
def vertex(dataset, gcs_bucket, fast_retries, settings, monkeypatch):
    with StudentOnVertex(dict(dataset.examples.values_list("input", "expected")), gcs_bucket) as server:
        use_vertex_server(server, settings, monkeypatch)
        yield server


def start_run(dataset, prompt_name="sports", **params):
    prompt = prompt_create(team=dataset.team, name=prompt_name)
    # No racing unless a test asks for it, so that each inference step is one job (or none).
    defaults = dict(primary_provider="vertex", optimizer_provider="vertex", examples_per_split=10, seed=1,
                    batch_from=5, race_from=0, enqueue=False)
    return run_create(dataset=dataset, start_version=prompt.versions.get(), **defaults | params)


def unfinished_jobs(run):
    return BatchJob.objects.filter(run=run, finished_at__isnull=True)


def run_to_the_end(run):
    """Steps while there are, and the checks django-q2 would run while the run waits for a job."""
    for _ in range(300):
        if loop.run_next_step(run.pk):
            continue
        run.refresh_from_db()
        if run.status != RunStatus.WAITING:
            return run
        for job in unfinished_jobs(run):
            services.check(job.pk)
    raise AssertionError("the run never ended")


def answers_of(run):
    """What each prompt answered to each example, by the prompt's text: comparable across runs."""
    return {
        (p.evaluation.version.system_prompt if p.evaluation.version else None, p.evaluation.version
         and p.evaluation.version.output_instruction, p.evaluation.split, p.example_id): p.output
        for p in Prediction.objects.filter(evaluation__run=run).select_related("evaluation__version")
    }


def test_a_large_run_goes_through_batch_jobs_and_ends_as_it_does_online(dataset, vertex):
    batched = run_to_the_end(start_run(dataset))

    assert batched.status == RunStatus.SUCCEEDED, batched.last_error
    jobs = list(BatchJob.objects.filter(run=batched).order_by("pk"))
    # One job per step: the start on validation, the four candidates of iteration 1, the start and the best on test.
    assert [(job.step, job.request_count) for job in jobs] == [
        (Step.PRIMARY_INFERENCE, 10), (Step.REFINED_INFERENCE, 40), (Step.FINAL_TEST, 20)
    ]
    candidates = {evaluation for pairs in jobs[1].requests.values() for evaluation, _ in pairs}
    assert len(candidates) == 4 and Prediction.objects.filter(evaluation__in=candidates).count() == 40
    assert all(job.state == "JOB_STATE_SUCCEEDED" and job.finished_at for job in jobs)
    assert vertex.received == []  # not one online call

    online = run_to_the_end(start_run(dataset, prompt_name="online", batch_from=0, use_cache=False))

    assert online.status == RunStatus.SUCCEEDED, online.last_error
    assert BatchJob.objects.filter(run=online).count() == 0 and len(vertex.received) == 70
    assert answers_of(batched) == answers_of(online)
    assert batched.iterations.count() == online.iterations.count() == 1
    assert (batched.best_version.output_instruction, batched.test_best_score, batched.stop_reason,
            batched.verdict) == (online.best_version.output_instruction, online.test_best_score,
                                 online.stop_reason, online.verdict)
    assert usage_for(batched)["llm_calls"] == usage_for(online)["llm_calls"] == 70
    assert usage_for(batched)["tokens"] == usage_for(online)["tokens"]


def test_a_race_asks_a_job_per_slice_and_a_slice_under_the_threshold_online(dataset, vertex):
    run = run_to_the_end(start_run(dataset, race_from=5))  # of 10 validation examples: slices of 5, 7, 9, then 10

    assert run.status == RunStatus.SUCCEEDED, run.last_error
    refined = BatchJob.objects.filter(run=run, step=Step.REFINED_INFERENCE).order_by("pk")
    # The four candidates on 5 examples; one is raced out, the three left answer 2 more twice, each a job of 6.
    assert [job.request_count for job in refined] == [20, 6, 6]
    assert len(vertex.received) == 3  # the last slice, one example each, is under batch_from 5: online


def test_a_run_whose_answers_are_in_the_cache_sends_no_job(dataset, vertex):
    run_to_the_end(start_run(dataset))
    jobs = len(vertex.created)

    again = run_to_the_end(start_run(dataset, prompt_name="again"))

    assert again.status == RunStatus.SUCCEEDED
    assert len(vertex.created) == jobs and vertex.received == []
    assert usage_for(again)["llm_calls"] == 0 and usage_for(again)["cache_hits"] == 70


def test_below_the_threshold_a_run_stays_online(dataset, vertex):
    run = run_to_the_end(start_run(dataset, batch_from=41))  # 10 examples per split: at most 40 answers a step

    assert run.status == RunStatus.SUCCEEDED, run.last_error
    assert vertex.created == [] and len(vertex.received) == 70
    assert not BatchJob.objects.filter(run=run).exists()


def test_the_step_ends_while_its_job_runs_and_a_scheduled_check_picks_it_up(
    dataset, vertex, gcs_bucket, settings, django_capture_on_commit_callbacks
):
    settings.VERTEX_BATCH_POLL_SECONDS = 90
    run = start_run(dataset)

    with django_capture_on_commit_callbacks(execute=True):
        assert loop.run_next_step(run.pk) is False  # nothing queued: no worker waits for the job

    run.refresh_from_db()
    [job] = BatchJob.objects.filter(run=run)
    assert (run.status, run.step, run.lease_until) == (RunStatus.WAITING, Step.PRIMARY_INFERENCE, None)
    assert progress_words(run) == (f"Waiting for Vertex batch job {JOB_NAME.format(1001)} (10 answers of "
                                   "1. primary inference, iteration 1).")
    assert (job.name, job.state, job.step, job.iteration) == (JOB_NAME.format(1001), "JOB_STATE_PENDING",
                                                              Step.PRIMARY_INFERENCE, 1)
    folder = f"batch-prediction/run-{run.pk}/job-{job.pk}"
    assert (job.input_uri, job.output_uri) == (f"gs://promptopt-test/{folder}/requests.jsonl",
                                               f"gs://promptopt-test/{folder}/output")
    [created] = vertex.created
    assert created["model"] == "publishers/google/models/gemini-2.5-flash"
    assert created["inputConfig"] == {"instancesFormat": "jsonl", "gcsSource": {"uris": [job.input_uri]}}
    assert created["outputConfig"]["gcsDestination"] == {"outputUriPrefix": job.output_uri}
    lines = [json.loads(line) for line in gcs_bucket.blob(f"{folder}/requests.jsonl").download_as_text().splitlines()]
    assert len(lines) == 10 and lines[0]["request"]["labels"] == {"promptopt_key": lines[0]["key"]}
    budget = answer_token_budget(answers.answers_of(run))  # what the online call asks for too
    assert lines[0]["request"]["generationConfig"] == {"temperature": 0.0, "maxOutputTokens": budget}
    [scheduled] = Schedule.objects.filter(func=CHECK)
    assert (scheduled.args, scheduled.schedule_type) == (f"({job.pk},)", Schedule.ONCE)
    assert abs(scheduled.next_run - (timezone.now() + timedelta(seconds=90))) < timedelta(seconds=10)

    assert loop.run_next_step(run.pk) is False  # the step queued again by mistake: a waiting run is not taken
    with django_capture_on_commit_callbacks(execute=True):
        services.check(job.pk)  # pending: checked again later
    run.refresh_from_db()
    assert run.status == RunStatus.WAITING and Schedule.objects.filter(func=CHECK).count() == 2
    assert Prediction.objects.filter(evaluation__run=run).count() == 0

    services.check(job.pk)  # running
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        services.check(job.pk)  # succeeded: the answers are in, and the step is queued
    run.refresh_from_db()
    assert (run.status, run.step) == (RunStatus.QUEUED, Step.PRIMARY_INFERENCE)
    assert Prediction.objects.filter(evaluation__run=run).count() == 10
    assert len(callbacks) == 1  # enqueue_step
    assert loop.run_next_step(run.pk) is True
    run.refresh_from_db()
    assert run.step == Step.EVALUATION and len(vertex.created) == 1 and vertex.received == []


@pytest.mark.parametrize("ending", ["JOB_STATE_FAILED", "JOB_STATE_EXPIRED"])
def test_a_job_that_fails_or_expires_fails_the_run_readably_and_keeps_its_history(dataset, vertex, ending):
    vertex.plans = [vertex.states, ["JOB_STATE_RUNNING", ending]]  # the first job answers, the second does not

    run = run_to_the_end(start_run(dataset))

    assert (run.status, run.step) == (RunStatus.FAILED, Step.REFINED_INFERENCE)
    assert run.last_error == (
        f"4. Refined inference: Vertex batch job {JOB_NAME.format(1002)} ended in {ending}: "
        "The input file holds an invalid request.."
    )
    assert run.finished_at is not None
    failed = BatchJob.objects.get(name=JOB_NAME.format(1002))
    assert (failed.state, failed.error) == (ending, "The input file holds an invalid request.")
    assert failed.finished_at is not None
    # What came before is kept: the start's answers and score, and the iteration's candidates.
    assert run.evaluations.get(version=run.start_version, split="validation").score == 0.0
    assert Iteration.objects.get(run=run).candidates.count() == 4
    assert LLMCall.objects.filter(run=run).count() == 10


def test_a_job_that_is_gone_fails_the_run(dataset, vertex):
    run = start_run(dataset)
    loop.run_next_step(run.pk)
    vertex.jobs.clear()

    run = run_to_the_end(run)

    assert run.status == RunStatus.FAILED
    assert run.last_error.startswith(f"1. Primary inference: Vertex batch job {JOB_NAME.format(1001)} could not be "
                                     "checked: Error code: 404 NOT_FOUND - The BatchPredictionJob does not exist.")


def test_a_check_that_cannot_reach_vertex_is_tried_again_later(
    dataset, vertex, settings, django_capture_on_commit_callbacks
):
    run = start_run(dataset)
    loop.run_next_step(run.pk)
    job = BatchJob.objects.get(run=run)
    with socket.socket() as closed:  # a port nothing listens on once the socket is closed
        closed.bind(("127.0.0.1", 0))
        settings.VERTEX_BASE_URL = f"http://127.0.0.1:{closed.getsockname()[1]}"

    with django_capture_on_commit_callbacks(execute=True):
        services.check(job.pk)

    run.refresh_from_db()
    job.refresh_from_db()
    assert (run.status, job.finished_at, job.state) == (RunStatus.WAITING, None, "JOB_STATE_PENDING")
    assert Schedule.objects.filter(func=CHECK, args=f"({job.pk},)").exists()
    assert vertex.checks == 0

    settings.VERTEX_BASE_URL = vertex.url  # reachable again: the next checks carry on
    for _ in range(3):
        services.check(job.pk)
    run.refresh_from_db()
    assert run.status == RunStatus.QUEUED and vertex.checks == 3


def test_a_check_without_credentials_fails_the_run_without_retrying(dataset, vertex, settings, monkeypatch):
    run = start_run(dataset)
    loop.run_next_step(run.pk)
    job = BatchJob.objects.get(run=run)
    settings.VERTEX_ACCESS_TOKEN = ""  # application-default credentials, here a file that is not there
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", "/nonexistent/credentials.json")

    services.check(job.pk)

    run.refresh_from_db()
    assert run.status == RunStatus.FAILED
    assert run.last_error.startswith(f"1. Primary inference: Vertex batch job {JOB_NAME.format(1001)} could not be "
                                     "checked: Google credentials: ")
    assert vertex.checks == 0


def test_a_check_run_twice_does_its_work_once(dataset, vertex):
    vertex.states = ["JOB_STATE_SUCCEEDED"]
    run = start_run(dataset)
    loop.run_next_step(run.pk)
    [job] = BatchJob.objects.filter(run=run)

    services.check(job.pk)
    services.check(job.pk)  # queued twice (a retried task, a schedule kept after its worker died)

    assert vertex.checks == 1
    assert LLMCall.objects.filter(run=run).count() == 10
    assert Prediction.objects.filter(evaluation__run=run).count() == 10
    run.refresh_from_db()
    assert run.status == RunStatus.QUEUED


def test_batch_answers_are_paid_at_the_batch_price(dataset, vertex, settings):
    run = start_run(dataset)
    loop.run_next_step(run.pk)
    services.check(BatchJob.objects.get(run=run).pk)
    services.check(BatchJob.objects.get(run=run).pk)
    services.check(BatchJob.objects.get(run=run).pk)

    calls = LLMCall.objects.filter(run=run)
    assert calls.count() == 10 and not calls.filter(cached=True).exists()
    assert set(calls.values_list("provider", "model", "purpose", "iteration")) == {
        ("vertex", "gemini-2.5-flash", "inference", 1)
    }
    # Gemini 2.5 Flash online: $0.30 a million input tokens, $2.50 a million output tokens; in batch, half.
    assert settings.LLM_PRICES["gemini-2.5-flash"] == (0.30, 2.50)
    for call in calls:
        online = (Decimal("0.30") * call.input_tokens + Decimal("2.50") * call.output_tokens) / 1_000_000
        assert call.input_tokens > 0 and abs(call.cost - online / 2) <= Decimal("0.0000005")  # to the microdollar
    assert usage_for(run)["cost"] == sum(call.cost for call in calls)
    assert ledger.cost("gemini-2.5-flash", 1_000_000, 1_000_000, Decimal("0.5")) == Decimal("1.400000")


def test_requests_a_job_did_not_answer_are_asked_online(dataset, vertex):
    vertex.unanswered = 2

    run = start_run(dataset)
    loop.run_next_step(run.pk)
    job = BatchJob.objects.get(run=run)
    for _ in range(3):
        services.check(job.pk)
    assert loop.run_next_step(run.pk) is True

    run.refresh_from_db()
    job.refresh_from_db()
    assert run.step == Step.EVALUATION
    assert Prediction.objects.filter(evaluation__run=run).count() == 10
    assert len(vertex.received) == 2  # online
    assert job.error == ("2 of 10 requests were not answered (the first: Internal error occurred. Failed to get "
                         "generateContentResponse.); the step asks them online.")


def test_cancelling_a_waiting_run_cancels_its_job(dataset, vertex, django_capture_on_commit_callbacks):
    run = start_run(dataset)
    loop.run_next_step(run.pk)
    job = BatchJob.objects.get(run=run)

    with django_capture_on_commit_callbacks(execute=True):
        run = run_cancel(run=run)
    services.check(job.pk)  # what the task queued by the cancel does

    assert (run.status, run.stop_reason) == (RunStatus.CANCELLED, "Cancelled while waiting for a batch job.")
    assert vertex.cancelled == ["1001"]
    job.refresh_from_db()
    assert job.finished_at is not None
    assert job.error == "The run ended before the job did; Vertex AI was asked to cancel it."
    assert loop.run_next_step(run.pk) is False


def test_without_cloud_storage_a_batch_run_fails_saying_what_to_set(dataset, fast_retries, settings, monkeypatch):
    with StudentOnVertex({}, bucket=None) as server:
        use_vertex_server(server, settings, monkeypatch)
        run = run_to_the_end(start_run(dataset))

    assert run.status == RunStatus.FAILED
    assert run.last_error == (
        "1. Primary inference: Vertex AI batch prediction reads its requests from Cloud Storage and writes its "
        "answers there: set GS_BUCKET_NAME, or set the run's batch_from to 0 to answer online."
    )
    assert server.created == []


def test_a_job_whose_checks_were_lost_is_checked_again_by_the_recovery(dataset, vertex, settings):
    from optimization.tasks import recover_stalled_runs

    run = start_run(dataset)
    loop.run_next_step(run.pk)  # submitted; its first check is scheduled on commit, which a test never reaches
    job = BatchJob.objects.get(run=run)
    assert services.check_lost_jobs() == []  # checked just now

    BatchJob.objects.filter(pk=job.pk).update(checked_at=timezone.now() - timedelta(minutes=9))
    services.check_later(job.pk)
    assert services.check_lost_jobs() == []  # its next check is scheduled

    Schedule.objects.filter(func=CHECK).delete()
    assert recover_stalled_runs() == []  # the waiting run itself is not queued: no worker could take it
    assert services.check_lost_jobs() == [job.pk]


def test_the_command_line_waits_for_its_jobs_and_checks_them_itself(dataset, vertex, settings):
    settings.VERTEX_BATCH_POLL_SECONDS = 0.01  # what a worker's schedule would wait between checks
    out = io.StringIO()

    call_command("optimize", "--dataset", "sports", "--prompt", "judge", "--primary-provider", "vertex",
                 "--examples", "10", "--seed", "1", "--batch-from", "5", "--race-from", "0", "--json", stdout=out,
                 stderr=io.StringIO())

    result = json.loads(out.getvalue())
    assert result["status"] == "succeeded" and result["llm_calls"] == 70
    assert len(vertex.created) == 3 and vertex.received == []  # one job per inference step


def test_a_job_vertex_refuses_fails_the_run_in_vertexs_words(dataset, vertex):
    vertex.refuse = 403

    run = run_to_the_end(start_run(dataset))

    assert (run.status, run.step) == (RunStatus.FAILED, Step.PRIMARY_INFERENCE)
    assert run.last_error == ("1. Primary inference: Error code: 403 PERMISSION_DENIED - Permission denied on "
                              "resource project test-project.")
    job = BatchJob.objects.get(run=run)
    assert (job.name, job.error) == ("", run.last_error.removeprefix("1. Primary inference: "))
    assert job.finished_at is not None


def test_a_creation_vertex_refuses_for_now_is_asked_again(dataset, vertex):
    vertex.refusals = [503, 429]  # the service unavailable, then a quota: no job was made either time

    run = run_to_the_end(start_run(dataset))

    assert run.status == RunStatus.SUCCEEDED, run.last_error
    assert vertex.refusals == [] and len(vertex.created) == BatchJob.objects.filter(run=run).count()


def test_a_creation_that_may_have_made_a_job_is_not_asked_again(dataset, vertex, settings):
    settings.LLM_MAX_RETRIES = 5
    vertex.refusals = [500]  # an internal error: the job may exist, and a second would be paid for twice

    run = run_to_the_end(start_run(dataset))

    assert (run.status, run.step) == (RunStatus.FAILED, Step.PRIMARY_INFERENCE)
    assert "Error code: 500" in run.last_error and "attempts" not in run.last_error


def test_a_creation_refused_every_time_says_how_often_it_was_asked(dataset, vertex, settings):
    settings.LLM_MAX_RETRIES = 2
    vertex.refuse = 503

    run = run_to_the_end(start_run(dataset))

    assert run.status == RunStatus.FAILED
    assert run.last_error == ("1. Primary inference: Error code: 503 UNAVAILABLE - The service is currently "
                              "unavailable. (gave up after 3 attempts)")


def test_jobs_recorded_before_a_job_could_span_versions_name_each_answers_evaluation():
    import importlib
    from types import SimpleNamespace

    migration = importlib.import_module("optimization.migrations.0013_batch_job_spans_the_step")
    saved = []
    job = SimpleNamespace(evaluation_id=7, requests={"key-a": [11, 12], "key-b": [13]},
                          save=lambda update_fields: saved.append(update_fields))
    jobs = SimpleNamespace(objects=SimpleNamespace(all=lambda: [job]))

    migration.name_each_answers_evaluation(SimpleNamespace(get_model=lambda app, model: jobs), None)

    assert job.requests == {"key-a": [[7, 11], [7, 12]], "key-b": [[7, 13]]} and saved == [["requests"]]
