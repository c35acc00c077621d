"""Batch prediction for large inference steps on Vertex AI, from the step's requests to its answers.

1. ask_in_batch   The inference step has `batch_from` or more answers to ask Vertex for, not in the cache (of
                  every version it asks: the start, the candidates of a race's slice, the start and the best on
                  test): it writes their requests as JSONL to Cloud Storage (the default storage's bucket), submits
                  one batch prediction job, records a BatchJob, schedules its check and raises WaitingForBatchJob.
                  The loop records the run as waiting and no worker holds it.
2. check          A scheduled task, every VERTEX_BATCH_POLL_SECONDS: asks Vertex for the job's state. Still on its
                  way: check again later. Succeeded: its answers go into the same cache, ledger (at the batch price)
                  and predictions as online answers, and the step is queued again; it then finds them there, and
                  asks online (or from the cache) whatever the job did not answer. Failed, cancelled or expired:
                  the run fails, naming the job and its error; what it did before is kept.

Every write is claimed first (the job's `finished_at`, the run's status), so a check that runs twice, or alongside
another, does its work once.
"""

import json
import logging
import time
from dataclasses import replace
from datetime import timedelta

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from optimization.webhooks import events as webhook_events
from promptopt.errors import PromptOptError

from ..llm import LLMError, cache, ledger
from ..llm.providers import vertex_batch
from ..models import Prediction, Run, RunStatus, Step
from ..queue import enqueue_step
from . import WaitingForBatchJob
from .models import BatchJob

log = logging.getLogger("promptopt.batch_prediction")

PROVIDER = "vertex"
CHECK = "optimization.batch_prediction.services.check"  # the task
LINE_KEY = 32  # hex digits of the cache key that name a request line (a request label holds at most 63)


# ---------------------------------------------------------------------------------------------------------
# 1. Asking


def ask_in_batch(run, asks):
    """Submit one batch job for the answers of `asks` [(evaluation, example, request), ...] (every version the
    step asks, together) that the cache has not, if they are `run.batch_from` or more, and raise
    WaitingForBatchJob; return when they are to be asked online instead."""
    if run.primary_provider != PROVIDER or not run.batch_from or len(asks) < run.batch_from:
        return
    jobs = BatchJob.objects.filter(run=run)
    unfinished = jobs.filter(finished_at__isnull=True).first()
    if unfinished is not None and unfinished.name:  # the step ran again while its job is on its way
        raise WaitingForBatchJob(_waiting_words(unfinished))
    # An answer a finished job did not bring is asked online: another job could fail on it the same way.
    tried = {tuple(pair) for job in jobs.filter(finished_at__isnull=False) for pairs in job.requests.values()
             for pair in pairs}
    model = run.primary_model or settings.VERTEX_MODEL
    keys = [cache.key(PROVIDER, request.model or model, request) for _, _, request in asks]
    cached = cache.lookup(keys) if run.use_cache else {}
    asked = {}  # key -> (request, [[evaluation id, example id], ...])
    for (evaluation, example, request), key in zip(asks, keys):
        if (evaluation.pk, example.id) not in tried and key not in cached:
            asked.setdefault(key, (request, []))[1].append([evaluation.pk, example.id])
    if sum(len(pairs) for _, pairs in asked.values()) < run.batch_from:
        return
    job = unfinished or BatchJob(run=run, step=run.step, iteration=run.iteration)
    job.model = model  # a submission cut short (no name yet) is submitted again, with what is missing now
    job.requests = {key: pairs for key, (_, pairs) in asked.items()}
    job.save()
    _submit(job, {key: request for key, (request, _) in asked.items()})
    raise WaitingForBatchJob(_waiting_words(job))


def _submit(job, requests):
    bucket = getattr(default_storage, "bucket_name", None)
    if not bucket:
        raise PromptOptError(
            "Vertex AI batch prediction reads its requests from Cloud Storage and writes its answers there: set "
            "GS_BUCKET_NAME, or set the run's batch_from to 0 to answer online."
        )
    folder = f"batch-prediction/run-{job.run_id}/job-{job.pk}"
    lines = "".join(
        json.dumps(vertex_batch.request_line(key[:LINE_KEY], request), ensure_ascii=False) + "\n"
        for key, request in requests.items()
    )
    name = default_storage.save(f"{folder}/requests.jsonl", ContentFile(lines.encode()))
    job.input_uri, job.output_uri = f"gs://{bucket}/{name}", f"gs://{bucket}/{folder}/output"
    try:
        submitted = vertex_batch.submit(
            model=job.model, input_uri=job.input_uri, output_uri=job.output_uri,
            display_name=f"promptopt-run-{job.run_id}-job-{job.pk}",
        )
    except LLMError as error:  # the step fails with it; the row says what was tried
        job.error, job.finished_at = error.message, timezone.now()
        job.save(update_fields=["input_uri", "output_uri", "error", "finished_at"])
        raise
    job.name, job.state, job.checked_at = submitted.name, submitted.state, timezone.now()
    job.save(update_fields=["input_uri", "output_uri", "name", "state", "checked_at"])
    log.info("Run %s: batch job %s submitted with %s requests", job.run_id, job.name, len(requests))
    transaction.on_commit(lambda: check_later(job.pk))


def _waiting_words(job):
    return (f"Waiting for Vertex batch job {job.name} ({job.request_count} answers of "
            f"{Step(job.step).label.lower()}, iteration {job.iteration}).")


def waiting_words(run):
    """What a waiting run waits for, in a sentence."""
    job = BatchJob.objects.filter(run=run, finished_at__isnull=True).exclude(name="").last()
    return _waiting_words(job) if job else "Waiting for a batch job."


# ---------------------------------------------------------------------------------------------------------
# 2. Checking


def check_later(job_id, seconds=None):
    """Schedule the job's next check (django-q2 runs it once, `seconds` from now)."""
    from django_q.models import Schedule
    from django_q.tasks import schedule

    at = timezone.now() + timedelta(seconds=settings.VERTEX_BATCH_POLL_SECONDS if seconds is None else seconds)
    schedule(CHECK, job_id, schedule_type=Schedule.ONCE, next_run=at,
             name=f"batch job {job_id} at {at:%H:%M:%S.%f}")


def check(job_id):
    """The job's state, and what follows from it: wait on, read its answers back, or fail the run."""
    job = BatchJob.objects.select_related("run").filter(pk=job_id, finished_at__isnull=True).first()
    if job is None:  # finished: a check queued twice has nothing left to do
        return
    run = job.run
    if not run.is_active or run.cancel_requested:
        return _abandon(job)
    try:
        remote = vertex_batch.get(job.name)
    except LLMError as error:
        if error.retryable:
            return _check_again(job)
        return _fail(job, f"Vertex batch job {job.name} could not be checked: {error.message}")
    job.state, job.output_dir, job.checked_at = remote.state, remote.output_dir, timezone.now()
    job.error = remote.error
    job.save(update_fields=["state", "output_dir", "checked_at", "error"])
    if remote.failed:
        return _fail(job, f"Vertex batch job {job.name} ended in {remote.state}: {remote.error or 'no reason given'}")
    if not remote.succeeded:
        return _check_again(job)
    try:
        answers = _read_answers(remote.output_dir)
    except Exception as error:  # a storage error, or lines that are not JSON
        log.exception("Run %s: the output of batch job %s cannot be read", run.pk, job.name)
        return _fail(job, f"the output of Vertex batch job {job.name} ({remote.output_dir}) cannot be read: {error}")
    _take_answers(job, answers)


def _check_again(job):
    BatchJob.objects.filter(pk=job.pk).update(checked_at=timezone.now())
    transaction.on_commit(lambda: check_later(job.pk))


def _read_answers(output_dir):
    """{line key: (Completion or None, why not)} from the predictions*.jsonl files of the job's output."""
    prefix = f"gs://{default_storage.bucket_name}/"
    if not output_dir.startswith(prefix):
        raise PromptOptError(f"the job wrote its output outside the bucket {default_storage.bucket_name}")
    folder = output_dir[len(prefix):].rstrip("/")
    answers = {}
    for filename in sorted(default_storage.listdir(folder)[1]):
        if not (filename.startswith("predictions") and filename.endswith(".jsonl")):
            continue
        with default_storage.open(f"{folder}/{filename}") as file:
            for line in file.read().decode().splitlines():
                if line.strip():
                    key, completion, why = vertex_batch.answer_of(json.loads(line))
                    answers[key] = (completion, why)
    return answers


def _take_answers(job, answers):
    """The job's answers into the cache, the ledger and the predictions, as online answers; the step queued again."""
    run = job.run
    now = timezone.now()
    paid, twins, predictions, missed = {}, [], [], []
    for key, pairs in job.requests.items():
        completion, why = answers.get(key[:LINE_KEY], (None, "not in the job's output"))
        if completion is None:
            missed.append(why)
            continue
        paid[key] = (job.model, completion)
        # A request several answers share was asked once: the others are served it, as complete_batch does.
        twins += [(job.model, replace(completion, cached=True))] * (len(pairs) - 1)
        predictions += [Prediction(evaluation_id=evaluation, example_id=example, output=completion.text)
                        for evaluation, example in pairs]
    with transaction.atomic():
        taken = BatchJob.objects.filter(pk=job.pk, finished_at__isnull=True).update(finished_at=now) and (
            Run.objects.filter(pk=run.pk, status=RunStatus.WAITING).update(status=RunStatus.QUEUED)
        )
        if not taken:  # another check took them, or the step has not recorded its wait yet
            transaction.set_rollback(True)
            return _check_again(job)
        accounting = {"provider": PROVIDER, "run": run, "iteration": job.iteration, "purpose": "inference"}
        cache.store(PROVIDER, paid)
        ledger.record(list(paid.values()), **accounting, price_share=settings.VERTEX_BATCH_PRICE_SHARE)
        ledger.record(twins, **accounting)
        Prediction.objects.bulk_create(predictions, ignore_conflicts=True)
        if missed:
            job.error = (f"{len(missed)} of {len(job.requests)} requests were not answered (the first: {missed[0]}); "
                         "the step asks them online.")
            job.save(update_fields=["error"])
        transaction.on_commit(lambda: _queue_step(run.pk))
    log.info("Run %s: batch job %s answered %s of %s requests", run.pk, job.name, len(paid), len(job.requests))


def _queue_step(run_id):
    enqueue_step(run_id)


def _fail(job, message):
    """The run fails with the job's error (once the step has recorded its wait); its history stays."""
    run, now = job.run, timezone.now()
    with transaction.atomic():
        failed = Run.objects.filter(pk=run.pk, status=RunStatus.WAITING).update(
            status=RunStatus.FAILED, last_error=f"{Step(job.step).label}: {message}.", finished_at=now
        )
        if not failed:  # the step has not recorded its wait yet (or the run ended: the next check sees it)
            return _check_again(job)
        BatchJob.objects.filter(pk=job.pk).update(finished_at=now)
        run.refresh_from_db()
        webhook_events.run_ended(run)  # sent once the run's end is committed
    log.warning("Run %s failed: %s", run.pk, message)


def _abandon(job):
    """The run ended (cancelled, or failed otherwise) while its job was on its way: ask Vertex to stop it."""
    if not BatchJob.objects.filter(pk=job.pk, finished_at__isnull=True).update(finished_at=timezone.now()):
        return
    try:
        vertex_batch.cancel(job.name)
        why = "The run ended before the job did; Vertex AI was asked to cancel it."
    except LLMError as error:  # it may have ended already; a job that cannot be stopped is only paid for
        why = f"The run ended before the job did; cancelling it failed: {error.message}"
    BatchJob.objects.filter(pk=job.pk).update(error=why)


def wait_in_foreground(run_id):
    """For a run in a process of its own (manage.py optimize), which no worker's scheduled checks may serve: while
    it waits, sleep VERTEX_BATCH_POLL_SECONDS and check its jobs here. False when the run is not waiting."""
    if not Run.objects.filter(pk=run_id, status=RunStatus.WAITING).exists():
        return False
    time.sleep(settings.VERTEX_BATCH_POLL_SECONDS)
    for job_id in BatchJob.objects.filter(run_id=run_id, finished_at__isnull=True).values_list("pk", flat=True):
        check(job_id)
    return True


def check_lost_jobs():
    """Queue a check of every job on its way whose chain of checks broke (a worker died running one, a broker lost
    the task): no check scheduled and none for three intervals and five minutes. Every minute, with the recovery of
    stalled runs. Returns the jobs' ids. A check queued beside a live chain is harmless, only not free."""
    from django_q.models import Schedule
    from django_q.tasks import async_task

    quiet = timezone.now() - timedelta(seconds=3 * settings.VERTEX_BATCH_POLL_SECONDS + 300)
    scheduled = {args for args in Schedule.objects.filter(func=CHECK).values_list("args", flat=True)}
    lost = BatchJob.objects.filter(finished_at__isnull=True, checked_at__lt=quiet).exclude(name="")
    ids = [pk for pk in lost.values_list("pk", flat=True) if f"({pk},)" not in scheduled]
    for job_id in ids:
        async_task(CHECK, job_id, task_name=f"batch job {job_id}", group="batch-jobs")
    return ids


def stop_jobs_of(run):
    """Once a run is cancelled: check its unfinished jobs now, which cancels them."""
    from django_q.tasks import async_task

    for job_id in BatchJob.objects.filter(run=run, finished_at__isnull=True).values_list("pk", flat=True):
        async_task(CHECK, job_id, task_name=f"batch job {job_id}", group="batch-jobs")
