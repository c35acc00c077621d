"""Writes with rules about webhooks: registering endpoints, emitting events, and one attempt at a delivery.

`emit` runs inside the transaction of the change it reports (a review transition, a run's last step): the
deliveries are rows written with that change, so an event is sent if and only if the change is committed, and
each is queued for the worker once it is. The worker makes one attempt per task (`attempt`), and a failed
attempt is queued again later (django-q2 schedules it), so no worker sleeps through a backoff.
"""

import json
import urllib.error
import urllib.request
import uuid
from datetime import timedelta
from functools import partial

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from promptopt.errors import PromptOptError
from promptopt.teams.access import require_role
from promptopt.teams.models import Role

from .models import Delivery, Endpoint, Event, new_secret
from .signing import signed_headers
from .targets import checked_target, opener


def _checked_events(events):
    events = list(dict.fromkeys(events or []))
    unknown = [event for event in events if event not in Event.values]
    if unknown:
        raise PromptOptError(f"Unknown events: {', '.join(map(str, unknown))}. Use: {', '.join(Event.values)}.")
    if not events:
        raise PromptOptError("Choose at least one event to send.")
    return events


def endpoint_create(*, team, url, events, by, description=""):
    """A new endpoint of `team` (the approver role: it sends the team's news to another system)."""
    require_role(by, team, Role.APPROVER)
    url = (url or "").strip()
    checked_target(url)
    return Endpoint.objects.create(team=team, url=url, events=_checked_events(events), description=description,
                                   created_by=by)


def endpoint_update(*, endpoint, by, active=None, events=None, description=None):
    require_role(by, endpoint.team, Role.APPROVER)
    if events is not None:
        endpoint.events = _checked_events(events)
    if description is not None:
        endpoint.description = description
    if active is not None:
        if active:
            checked_target(endpoint.url)
        endpoint.active = active
    endpoint.save()
    return endpoint


def endpoint_rotate_secret(*, endpoint, by):
    """A new secret for the endpoint. The one it replaces still signs deliveries, beside the new one, for
    WEBHOOK_SECRET_OVERLAP_HOURS, so that a receiver can switch to the new one without rejecting any."""
    require_role(by, endpoint.team, Role.APPROVER)
    endpoint.previous_secret, endpoint.secret = endpoint.secret, new_secret()
    endpoint.previous_secret_until = timezone.now() + timedelta(hours=settings.WEBHOOK_SECRET_OVERLAP_HOURS)
    endpoint.save(update_fields=["secret", "previous_secret", "previous_secret_until"])
    return endpoint


def endpoint_delete(*, endpoint, by):
    require_role(by, endpoint.team, Role.APPROVER)
    endpoint.delete()


# ---------------------------------------------------------------------------------------------------------
# Events


def emit(*, team_id, event, data):
    """A delivery of `event` to each active endpoint of the team that subscribed to it, queued on commit."""
    endpoints = [e for e in Endpoint.objects.filter(team_id=team_id, active=True).select_related("team")
                 if event in e.events]
    for endpoint in endpoints:
        delivery_id = uuid.uuid4()
        body = json.dumps({
            "id": str(delivery_id),
            "event": event,
            "created_at": timezone.now().isoformat().replace("+00:00", "Z"),
            "team": {"id": endpoint.team_id, "name": endpoint.team.name},
            "data": data,
        }, ensure_ascii=False, separators=(",", ":"))
        Delivery.objects.create(id=delivery_id, endpoint=endpoint, team_id=team_id, event=event, body=body)
        transaction.on_commit(partial(queue_attempt, delivery_id))


def queue_attempt(delivery_id, at=None):
    """The worker makes the delivery's next attempt now (or at `at`)."""
    from django_q.models import Schedule
    from django_q.tasks import async_task, schedule

    if at is None:
        async_task("optimization.webhooks.services.attempt", str(delivery_id), task_name=f"webhook {delivery_id}",
                   group="webhooks")
    else:
        schedule("optimization.webhooks.services.attempt", str(delivery_id), schedule_type=Schedule.ONCE, next_run=at,
                 name=f"webhook {delivery_id} at {at:%H:%M:%S.%f}")


def resend_due_deliveries():
    """Queue every delivery that is due and has no task on its way: its task was lost with a worker that died,
    or a scheduled retry was dropped. Every minute (the schedule made in this app's migration). A delivery queued
    twice is harmless: `attempt` claims it, and the second task finds it not due. Returns how many."""
    now = timezone.now()
    quiet = now - timedelta(minutes=1)
    due = Delivery.objects.filter(status__in=[Delivery.Status.PENDING, Delivery.Status.RETRYING]).filter(
        Q(next_attempt_at__lt=quiet) | Q(next_attempt_at__isnull=True, created_at__lt=quiet))
    ids = list(due.values_list("pk", flat=True)[:1000])
    for delivery_id in ids:
        queue_attempt(delivery_id)
    return len(ids)


def backoff(attempts):
    """Seconds before the attempt after `attempts` attempts: WEBHOOK_RETRY_SECONDS, then 4 times longer each time."""
    return settings.WEBHOOK_RETRY_SECONDS * 4 ** (attempts - 1)


def attempt(delivery_id):
    """One attempt at a delivery, if it is due and no other worker holds it. Returns the delivery."""
    now = timezone.now()
    hold = now + timedelta(seconds=settings.WEBHOOK_TIMEOUT_SECONDS + 30)  # if this worker dies, due again then
    claimed = Delivery.objects.filter(
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now),
        pk=delivery_id, status__in=[Delivery.Status.PENDING, Delivery.Status.RETRYING],
    ).update(attempts=F("attempts") + 1, next_attempt_at=hold)
    delivery = Delivery.objects.select_related("endpoint").get(pk=delivery_id)
    if claimed != 1:
        return delivery  # delivered already, given up, not yet due, or another worker holds it
    code, error = _send(delivery)
    delivery.last_status_code, delivery.last_error = code, error
    if code is not None and 200 <= code < 300:
        delivery.status, delivery.delivered_at, delivery.next_attempt_at = Delivery.Status.DELIVERED, now, None
    elif not delivery.endpoint.active or delivery.attempts >= settings.WEBHOOK_MAX_ATTEMPTS:
        delivery.status, delivery.next_attempt_at = Delivery.Status.FAILED, None
        if not delivery.endpoint.active:
            delivery.last_error = "The endpoint was turned off. " + error
    else:
        delivery.status = Delivery.Status.RETRYING
        delivery.next_attempt_at = timezone.now() + timedelta(seconds=backoff(delivery.attempts))
    delivery.save(update_fields=["status", "last_status_code", "last_error", "next_attempt_at", "delivered_at"])
    if delivery.status == Delivery.Status.RETRYING:
        queue_attempt(delivery.pk, at=delivery.next_attempt_at)
    return delivery


def _send(delivery):
    """(HTTP status or None, what went wrong or "")."""
    endpoint = delivery.endpoint
    if not endpoint.active:
        return None, "Not sent."
    try:
        target = checked_target(endpoint.url)
    except PromptOptError as exc:
        return None, exc.message
    body = delivery.body.encode()
    headers = signed_headers(secrets=endpoint.signing_secrets(), body=body, delivery_id=delivery.pk,
                             event=delivery.event)
    request = urllib.request.Request(endpoint.url, data=body, headers=headers, method="POST")
    try:
        with opener(target).open(request, timeout=settings.WEBHOOK_TIMEOUT_SECONDS) as response:
            return response.status, ""
    except urllib.error.HTTPError as exc:
        with exc:
            answer = exc.read(500).decode(errors="replace")
        return exc.code, f"HTTP {exc.code}: {answer}".strip()
    except (OSError, ValueError) as exc:  # refused, reset, timed out, a bad certificate
        reason = getattr(exc, "reason", exc)
        return None, f"No answer: {reason}"


def delivery_retry(*, delivery, by):
    """Send a delivery that gave up once more, now (the same body and id: a receiver that saw it ignores it)."""
    require_role(by, delivery.team, Role.APPROVER)
    if delivery.status != Delivery.Status.FAILED:
        raise PromptOptError(f"This delivery is {delivery.get_status_display()}: only a failed one is sent again.")
    if not delivery.endpoint.active:
        raise PromptOptError("The endpoint is turned off: turn it on first.")
    Delivery.objects.filter(pk=delivery.pk).update(status=Delivery.Status.RETRYING, next_attempt_at=None)
    transaction.on_commit(partial(queue_attempt, delivery.pk))
