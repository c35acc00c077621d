"""Who is calling: a browser session or an API token (`Authorization: Bearer po_...`), and what a token's scope
lets it call."""

import functools
import time
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import BooleanField, Q
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import SAFE_METHODS, BasePermission

from ..teams.models import ApiToken


class TokenAuthentication(BaseAuthentication):
    """`Authorization: Bearer po_...` (or `Token po_...`). The token acts as its owner, with the owner's roles,
    within its scope (`TokenScope`)."""

    keywords = ("bearer", "token")
    # `last_used_at` is written at most once a minute: writing it on every request would make every read a write.
    touch_seconds = 60
    clock = staticmethod(time.monotonic)
    _touched = {}  # token id -> when this process last made sure the token's last_used_at is fresh

    def authenticate(self, request):
        key = self.key_of(request)
        if key is None:
            return None  # not ours: the session (or nobody) then
        token = self.live_token(key)
        if token is None:
            raise exceptions.AuthenticationFailed(self.refusal(key))
        self.touch(token.pk)
        return token.user, token

    @staticmethod
    def refusal(key):
        """Why the key has no live token, in words: it expired (when), or it is unknown or revoked."""
        expired_at = (ApiToken.objects.filter(key_hash=ApiToken.hash(key), revoked_at__isnull=True,
                                              expires_at__lte=timezone.now())
                      .values_list("expires_at", flat=True).first())
        if expired_at is not None:
            return f"This token expired at {expired_at:%Y-%m-%d %H:%M} UTC: make a new one."
        return "Invalid or revoked token."

    @classmethod
    def key_of(cls, request):
        """The key in the request's `Authorization` header; None when the header names another scheme (or is
        missing). A malformed key is an AuthenticationFailed."""
        scheme, _, key = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
        if scheme.lower() not in cls.keywords:
            return None
        key = key.strip()
        if not key.startswith(ApiToken.PREFIX) or " " in key:
            raise exceptions.AuthenticationFailed("Malformed token: send `Authorization: Bearer po_...`.")
        return key

    @classmethod
    def touch(cls, token_id):
        now = cls.clock()
        if now - cls._touched.get(token_id, -cls.touch_seconds) < cls.touch_seconds:
            return
        if len(cls._touched) > 10_000:
            cls._touched.clear()
        cls._touched[token_id] = now
        # Conditional: of the processes that get here within the same minute, one writes.
        stale = timezone.now() - timedelta(seconds=cls.touch_seconds)
        ApiToken.objects.filter(Q(last_used_at__isnull=True) | Q(last_used_at__lt=stale), pk=token_id).update(
            last_used_at=timezone.now()
        )

    def live_token(self, key):
        """The live token of this key (`ApiToken.live_sql`), with its owner in the same row, or None.
        In SQL: the ORM took 0.45 ms to build this one query, as long as the rest of a small request.

        The token and its owner come back with only the fields a request needs; the others load if read."""
        sql, user_fields = _token_sql()
        with connection.cursor() as cursor:
            cursor.execute(sql, ApiToken.live_params(ApiToken.hash(key)))
            row = cursor.fetchone()
        if row is None:
            return None
        token_id, scope, *values = row
        values = [bool(value) if isinstance(field, BooleanField) else value
                  for field, value in zip(user_fields, values)]
        user = get_user_model().from_db(connection.alias, [field.attname for field in user_fields], values)
        token = ApiToken.from_db(connection.alias, ["id", "user_id", "scope"], [token_id, user.pk, scope])
        token.user = user
        return token

    def authenticate_header(self, request):
        return 'Bearer realm="api"'  # makes a missing or bad credential a 401, not a 403


@functools.cache
def _token_sql():
    """The query of `TokenAuthentication.live_token`, and the user's fields it reads, in `from_db`'s order."""
    User = get_user_model()
    wanted = {User._meta.pk.name, User.USERNAME_FIELD, "is_active", "is_superuser"}
    user_fields = [field for field in User._meta.concrete_fields if field.name in wanted]
    quote = connection.ops.quote_name
    sql = (
        "SELECT t.id, t.scope, "
        + ", ".join(f"u.{quote(field.column)}" for field in user_fields)
        + f" FROM {quote(ApiToken._meta.db_table)} t JOIN {quote(User._meta.db_table)} u"
        f" ON u.{quote(User._meta.pk.column)} = t.user_id"
        " WHERE " + ApiToken.live_sql("t", "u")
    )
    return sql, user_fields


class TokenScheme(OpenApiAuthenticationExtension):
    target_class = TokenAuthentication
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "bearerFormat": "po_...",
                "description": "An API token: `Authorization: Bearer po_...` (or `Token po_...`)."}


class TokenScope(BasePermission):
    """What a token's scope lets it call, for every API view (DEFAULT_PERMISSION_CLASSES). A browser session is not
    limited here: the person's roles decide, in the services, as they do for a token within its scope.

    - `serve`: only views that serve applications (`serves_applications = True`: the production prompt), to read;
    - `read`: any view, to read (GET, HEAD, OPTIONS);
    - `write`: anything the owner's roles allow."""

    def has_permission(self, request, view):
        if not isinstance(request.auth, ApiToken):
            return True
        self.message = self.refusal(request.auth.scope, request.method, view)
        return self.message is None

    @staticmethod
    def refusal(scope, method, view):
        """Why a token of `scope` may not call `view` with `method`, or None when it may."""
        if scope == ApiToken.Scope.WRITE:
            return None
        if scope == ApiToken.Scope.READ and method not in SAFE_METHODS:
            return "This token's scope is read: it may only read (GET). A write token can do this."
        if scope == ApiToken.Scope.SERVE and not getattr(view, "serves_applications", False):
            return ("This token's scope is serve: it may only fetch production prompts "
                    "(GET /api/v1/prompts/NAME/production/). A read or write token can do this.")
        if scope == ApiToken.Scope.SERVE and method not in (*SAFE_METHODS, *getattr(view, "serve_methods", ())):
            return "This token's scope is serve: it may only fetch production prompts (GET)."
        return None
