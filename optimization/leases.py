"""How a worker holds a run for one step: it claims the run with a lease (a conditional update that must change
exactly one row), renews it between chunks of work, and records the step's result only while it still holds it."""

import uuid
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from optimization.webhooks import events as webhook_events
from promptopt.errors import PromptOptError

from .models import Run, RunStatus, StepTiming


class RunCancelled(Exception):
    pass


def claim(run_id):
    """Take the run for one step if it is active and nobody holds it. Returns (run, token) or (None, None)."""
    now, token = timezone.now(), uuid.uuid4().hex
    claimed = (
        Run.objects.filter(pk=run_id, status__in=Run.CLAIMABLE)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .update(
            lease_token=token,
            lease_until=now + timedelta(seconds=settings.RUN_LEASE_SECONDS),
            heartbeat_at=now,
            status=RunStatus.RUNNING,
            started_at=Coalesce("started_at", now),
        )
    )
    if claimed != 1:
        return None, None
    return Run.objects.select_related("start_version__prompt", "best_version", "dataset").get(pk=run_id), token


def check_in(run):
    """Between chunks of work: stop if the run was cancelled, otherwise renew the lease."""
    now = timezone.now()
    renewed = Run.objects.filter(pk=run.pk, lease_token=run.lease_token, cancel_requested=False).update(
        lease_until=now + timedelta(seconds=settings.RUN_LEASE_SECONDS), heartbeat_at=now
    )
    if renewed != 1:
        if Run.objects.filter(pk=run.pk, cancel_requested=True).exists():
            raise RunCancelled()
        raise PromptOptError("Another worker took this run over; this one stops.")


STATE_FIELDS = [
    "status", "step", "iteration", "best_version", "best_score", "iterations_without_improvement", "stop_reason",
    "last_error", "finished_at", "test_start_score", "test_best_score", "test_delta", "ci_low", "ci_high",
    "p_value", "baseline_delta", "baseline_ci_low", "baseline_ci_high", "baseline_p_value", "verdict", "calls_saved",
    "lease_token", "lease_until", "heartbeat_at",
]


def record(run, token, status, step, **fields):
    """Write the run's new state, if this worker still holds it, and free it for the next step."""
    done, claimed_at = run.step, run.heartbeat_at  # the step just run; the claim's time (check_in renews the row)
    run.status, run.step = status, step
    for name, value in fields.items():
        setattr(run, name, value)
    if status in (RunStatus.FAILED, RunStatus.CANCELLED):
        run.finished_at = timezone.now()
    run.lease_token, run.lease_until, run.heartbeat_at = "", None, timezone.now()
    with transaction.atomic():
        values = {name: getattr(run, name) for name in STATE_FIELDS}
        written = Run.objects.filter(pk=run.pk, lease_token=token).update(**values)
        if written == 1:
            seconds = (run.heartbeat_at - claimed_at).total_seconds()
            StepTiming.objects.create(run=run, step=done, iteration=run.iteration, outcome=status, seconds=seconds)
        if written == 1 and run.status not in Run.ACTIVE:
            webhook_events.run_ended(run)  # sent once the run's end is committed
    return written == 1 and run.status in Run.CLAIMABLE
