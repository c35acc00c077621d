"""Teams own datasets, prompts and runs; a membership gives a user one role in one team."""

import hashlib
import secrets

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone


class Team(models.Model):
    name = models.CharField(max_length=100, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, through="Membership", related_name="teams")

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class Role(models.TextChoices):
    VIEWER = "viewer", "Viewer"
    EDITOR = "editor", "Editor"
    APPROVER = "approver", "Approver"


class Membership(models.Model):
    """A user's role in a team. Roles are ordered: an approver can also edit, an editor can also view."""

    RANK = {Role.VIEWER: 0, Role.EDITOR: 1, Role.APPROVER: 2}

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.VIEWER)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["team", "user"], name="one_membership_per_team")]

    def __str__(self):
        return f"{self.user} · {self.team} ({self.role})"

    def allows(self, role):
        return self.RANK[Role(self.role)] >= self.RANK[Role(role)]


def in_the_future(moment):
    """A token's expiry, when it is set: it must lie ahead (a token that is born expired is a mistake)."""
    if moment is not None and moment <= timezone.now():
        raise ValidationError("The expiry must be in the future (leave it empty for a token that never expires).")


class ApiToken(models.Model):
    """A user's key for the REST API. Only a hash is kept; the key itself is shown once, when it is made.

    A token acts as its owner, within its scope: it reaches exactly the owner's teams, and may do there what both
    the owner's roles and the scope allow (`promptopt.api.authentication.TokenScope` enforces the scope for every
    API view).
    What makes a key's token live (unrevoked, unexpired, its owner active) is `live_sql`, the one place that rule
    lives: both queries that authenticate a request use it (`TokenAuthentication.live_token`, and the production
    prompt's one query)."""

    PREFIX = "po_"

    class Scope(models.TextChoices):
        SERVE = "serve", "serve: only the production prompt, what an application needs"
        READ = "read", "read: every read (GET), no change"
        WRITE = "write", "write: everything your roles allow"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, help_text="What uses it, e.g. 'checkout service'.")
    # Least privilege by default: an application only fetches production prompts. Tokens made before scopes
    # existed were given `write` by their migration, which is what they could do then.
    scope = models.CharField(
        max_length=5, choices=Scope.choices, default=Scope.SERVE,
        help_text="What it may call: serve (GET /api/v1/prompts/NAME/production/ only), read (every GET) or write "
                  "(everything its owner's roles allow). Chosen when it is made.",
    )
    expires_at = models.DateTimeField(
        null=True, blank=True, validators=[in_the_future],
        help_text="From then on it is refused, like a revoked token. Empty: it never expires.",
    )
    prefix = models.CharField(max_length=12, editable=False, help_text="The key's first characters, to recognise it.")
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.name} ({self.prefix}…)"

    @staticmethod
    def hash(key):
        return hashlib.sha256(key.encode()).hexdigest()

    @classmethod
    def issue(cls, *, user, name, scope=Scope.SERVE, expires_at=None):
        """Make a token; returns (token, key). The key is not stored and cannot be shown again."""
        if scope not in cls.Scope.values:
            raise ValidationError(f"{scope!r} is not a scope: use one of {', '.join(cls.Scope.values)}.")
        in_the_future(expires_at)
        key = cls.PREFIX + secrets.token_urlsafe(32)
        token = cls.objects.create(user=user, name=name, scope=scope, expires_at=expires_at, prefix=key[:10],
                                   key_hash=cls.hash(key))
        return token, key

    def revoke(self):
        self.revoked_at = timezone.now()
        self.save(update_fields=["revoked_at"])

    @property
    def is_expired(self):
        return self.expires_at is not None and self.expires_at <= timezone.now()

    @property
    def is_active(self):
        return self.revoked_at is None and not self.is_expired

    @staticmethod
    def live_sql(token, user):
        """The SQL condition that the token aliased `token`, owned by the user aliased `user`, is the live token of
        a key: its parameters are `live_params(key_hash)`, in that order."""
        from django.contrib.auth import get_user_model
        from django.db import connection

        is_active = connection.ops.quote_name(get_user_model()._meta.get_field("is_active").column)
        return (f"{token}.key_hash = %s AND {token}.revoked_at IS NULL"
                f" AND ({token}.expires_at IS NULL OR {token}.expires_at > %s) AND {user}.{is_active}")

    @staticmethod
    def live_params(key_hash):
        """The parameters of `live_sql`: the key's hash, and now (as the database compares its datetimes)."""
        from django.db import connection

        return [key_hash, connection.ops.adapt_datetimefield_value(timezone.now())]
