"""django-q2 entry points: ids in, one step per task, the next step queued once the step is recorded."""

from datetime import timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from . import loop
from .batch_prediction.services import check_lost_jobs
from .models import Run
from .queue import enqueue_step


def run_step(run_id):
    if loop.run_next_step(run_id):
        transaction.on_commit(lambda: enqueue_step(run_id))


def recover_stalled_runs(starting=False):
    """Queue again every active run that no live worker holds, and return their ids.

    A worker that dies leaves its lease to expire, and may take queued tasks with it (django-q2 prefetches
    them). Every minute (the schedule made in migration 0002) this picks up runs whose lease expired or that
    have had no news for two minutes; when a worker starts (`manage.py worker`) it also takes every run that
    is between steps. A step queued twice is harmless: the second claim fails while the first holds the lease,
    or finds the work already done."""
    now = timezone.now()
    quiet = now if starting else now - timedelta(minutes=2)
    stale = Run.objects.filter(status__in=Run.CLAIMABLE).filter(
        Q(lease_until__lt=now)
        | Q(lease_until__isnull=True, heartbeat_at__lt=quiet)
        | Q(lease_until__isnull=True, heartbeat_at__isnull=True, created_at__lt=quiet)
    )
    ids = list(stale.values_list("pk", flat=True))
    for run_id in ids:
        enqueue_step(run_id)
    check_lost_jobs()  # a waiting run is in no worker's hands: its job's checks resume it
    return ids
