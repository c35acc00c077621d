"""Canary rollouts: an approved version served beside production to a share of the subjects (users, sessions),
and the outcomes applications report for each."""

import hashlib
import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q


def new_salt():
    return secrets.token_hex(8)


def in_canary(salt, subject, share):
    """Whether `subject` gets the canary: a hash of the salt and the subject, in 10,000 buckets, below the share.
    The same subject always gets the same answer for one canary; another canary (another salt) draws anew.
    The Python client (promptopt_client.rendering.in_canary) computes the same; a test compares them."""
    bucket = int(hashlib.sha256(f"{salt}:{subject}".encode()).hexdigest()[:8], 16) % 10_000
    return bucket < share * 100


class Canary(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", "active"
        PROMOTED = "promoted", "promoted to production"
        STOPPED = "stopped", "stopped"

    team = models.ForeignKey("promptopt.Team", on_delete=models.CASCADE, related_name="canaries")
    prompt = models.ForeignKey("optimization.Prompt", on_delete=models.CASCADE, related_name="canaries")
    version = models.ForeignKey("optimization.PromptVersion", on_delete=models.PROTECT, related_name="canaries",
                                help_text="The approved version tried on a share of the subjects.")
    baseline = models.ForeignKey("optimization.PromptVersion", on_delete=models.PROTECT, related_name="+",
                                 help_text="The production version when the canary started; the canary is served "
                                           "only while it is still production.")
    share = models.PositiveSmallIntegerField(help_text="Percent of the subjects that get the canary (1 to 50).")
    salt = models.CharField(max_length=16, default=new_salt, editable=False)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    started_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    started_at = models.DateTimeField(auto_now_add=True)
    ended_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                 related_name="+")
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at"]
        verbose_name_plural = "canaries"
        constraints = [models.UniqueConstraint(fields=["prompt"], condition=Q(status="active"),
                                               name="one_active_canary_per_prompt")]

    def __str__(self):
        return f"{self.version} on {self.share} % beside v{self.baseline.number}"

    def serves(self, subject):
        return in_canary(self.salt, subject, self.share)


class Outcome(models.Model):
    """A score an application reported for what one subject got (e.g. 1 for a thumbs-up, 0 for a thumbs-down)."""

    canary = models.ForeignKey(Canary, on_delete=models.CASCADE, related_name="outcomes")
    team = models.ForeignKey("promptopt.Team", on_delete=models.CASCADE, related_name="+")
    version = models.ForeignKey("optimization.PromptVersion", on_delete=models.PROTECT, related_name="+")
    subject = models.CharField(max_length=200)
    score = models.FloatField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["canary", "version"])]
