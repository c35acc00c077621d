"""A team's webhook endpoints and every delivery made to them."""

import secrets
import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone


class Event(models.TextChoices):
    REVIEW_REQUESTED = "version.review_requested", "a version was sent for review"
    APPROVED = "version.approved", "a version was approved"
    REJECTED = "version.rejected", "a version was rejected"
    PROMOTED = "version.promoted", "a version was promoted to production"
    ROLLED_BACK = "version.rolled_back", "production was rolled back to an earlier version"
    RUN_FINISHED = "run.finished", "a run finished"
    RUN_FAILED = "run.failed", "a run failed"
    RUN_CANCELLED = "run.cancelled", "a run was cancelled"


def new_secret():
    return "whsec_" + secrets.token_urlsafe(32)


class Endpoint(models.Model):
    """A URL of a team's that receives the events it subscribed to, each delivery signed with its secret."""

    team = models.ForeignKey("promptopt.Team", on_delete=models.CASCADE, related_name="webhook_endpoints")
    url = models.URLField(max_length=500, help_text="http(s)://..., where the events are POSTed.")
    description = models.CharField(max_length=200, blank=True)
    events = models.JSONField(default=list, help_text="The events sent to it (see Event).")
    # Kept as is, not hashed: every delivery is signed with it. Shown to the team's approvers.
    secret = models.CharField(max_length=100, default=new_secret, editable=False)
    previous_secret = models.CharField(max_length=100, blank=True, editable=False)
    previous_secret_until = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="Until then deliveries are signed with both secrets."
    )
    active = models.BooleanField(default=True, help_text="Off: nothing more is sent; deliveries already queued stop.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["team", "url"]

    def __str__(self):
        return self.url

    @property
    def previous_secret_signs(self):
        """Whether the secret a rotation replaced still signs deliveries, beside the current one."""
        return bool(self.previous_secret and self.previous_secret_until
                    and timezone.now() < self.previous_secret_until)

    def signing_secrets(self):
        """The secrets a delivery made now is signed with."""
        return [self.secret, self.previous_secret] if self.previous_secret_signs else [self.secret]

    def event_labels(self):
        return [Event(event).label for event in self.events if event in Event.values]


class Delivery(models.Model):
    """One event for one endpoint: its body is fixed when the event happens; attempts sign and send it again."""

    class Status(models.TextChoices):
        PENDING = "pending", "pending"
        RETRYING = "retrying", "retrying"
        DELIVERED = "delivered", "delivered"
        FAILED = "failed", "failed (no more attempts)"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False,
                          help_text="The idempotency id: the same in every attempt, in the body and a header.")
    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="deliveries")
    team = models.ForeignKey("promptopt.Team", on_delete=models.CASCADE, related_name="webhook_deliveries")
    event = models.CharField(max_length=40, choices=Event.choices)
    body = models.TextField(help_text="The JSON sent, byte for byte the same in every attempt.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    last_status_code = models.PositiveIntegerField(null=True, blank=True, help_text="The receiver's last answer.")
    last_error = models.TextField(blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "deliveries"

    def __str__(self):
        return f"{self.event} to {self.endpoint} ({self.status})"
