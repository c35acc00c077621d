"""What every door of the REST API shares: who is calling (a browser session or an API token), what they may see
(their teams' objects; another team's object is a 404, like one that does not exist), how often they may call,
and the one shape of every error:

    {"error": {"code": "not_found", "message": "No dataset 12 in your teams.", "details": {}}}

Writes are checked by the services (`require_role`, the review workflow), which raise NotAllowed: a 403 with its
message. The token endpoints live here too: a token is how a program signs in.
"""

import functools
import logging
import threading
import time
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import SuspiciousOperation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError, connection
from django.db.models import BooleanField, Q
from django.http import Http404
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiResponse
from rest_framework import exceptions, serializers, status
from rest_framework.authentication import BaseAuthentication
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

from datasets.readers import DatasetFileError

from .errors import InUse, NotAllowed, PromptOptError
from .models import ApiToken, Team
from .teams import scoped

logger = logging.getLogger("promptopt.api")

# ---------------------------------------------------------------------------------------------------------
# Who is calling


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


class TokenRateThrottle(SimpleRateThrottle):
    """The "token" rate, per token; per user for a browser session, per address for anonymous calls.

    Counted in fixed windows, one counter per window in Django's cache, which every process shares. DRF's sliding
    log would keep every timestamp of the window in one entry (6,000 floats read and written per request at
    6000/min), and even one counter write per request costs more than the production endpoint's whole answer with
    the file cache (a file written and renamed). So each process adds its count to the shared one in batches of
    1 % of the rate (at least every second): a process may let through at most one batch more than the rate, and
    a burst straddling two windows up to twice the rate for a moment. At rates below 100 it counts every request.
    """

    scope = "token"
    flush_seconds = 1.0
    _counts = {}  # (ident, window) -> [counted here, not yet shared; the shared total as last seen; when shared]
    _lock = threading.Lock()

    def get_rate(self):
        return api_settings.DEFAULT_THROTTLE_RATES[self.scope]  # read now, not at import: tests change it

    def get_cache_key(self, request, view):
        if isinstance(request.auth, ApiToken):
            return self.token_key(request.auth.pk)
        elif request.user and request.user.is_authenticated:
            ident = f"user:{request.user.pk}"
        else:
            ident = f"ip:{self.get_ident(request)}"
        return f"throttle:{self.scope}:{ident}"

    def token_key(self, token_id):
        return f"throttle:{self.scope}:token:{token_id}"

    def allow_token(self, token_id):
        """`allow_request` for a request made with the API token `token_id`."""
        return self.rate is None or self.allow(self.token_key(token_id))

    def allow_request(self, request, view):
        if self.rate is None:
            return True
        return self.allow(self.get_cache_key(request, view))

    def allow(self, ident_key):
        """Count one request against the caller `ident_key` (a `get_cache_key`); whether it is within the rate."""
        now = self.timer()
        window = int(now // self.duration)
        self.wait_seconds = (window + 1) * self.duration - now
        key = f"{ident_key}:{window}"
        with self._lock:
            if key not in self._counts:
                self._forget_old_windows(window)
                self._counts[key] = [0, 0, now]
            count = self._counts[key]
            count[0] += 1
            if count[0] >= max(1, self.num_requests // 100) or now - count[2] >= self.flush_seconds:
                count[1], count[0], count[2] = self._share(key, count[0]), 0, now
            return count[1] + count[0] <= self.num_requests

    def _share(self, key, pending):
        """Add `pending` to the shared count of the window; the shared count after it."""
        try:
            return self.cache.incr(key, pending)
        except ValueError:  # the window's first batch
            if self.cache.add(key, pending, self.duration + 1):
                return pending
            return self.cache.incr(key, pending)

    def _forget_old_windows(self, window):
        for key in [key for key in self._counts if int(key.rsplit(":", 1)[1]) < window]:
            del self._counts[key]

    def wait(self):
        return self.wait_seconds


# ---------------------------------------------------------------------------------------------------------
# What they may see


def get_scoped(queryset, user, *, what, team_path="team", **lookup):
    """The object of one of `user`'s teams, or a 404 that does not say whether it exists elsewhere.

    `what` names it for the message: "dataset 12" gives "No dataset 12 in your teams."."""
    obj = scoped(queryset, user, team_path).filter(**lookup).first()
    if obj is None:
        raise Http404(f"No {what} in your teams.")
    return obj


class ScopedField(serializers.PrimaryKeyRelatedField):
    """An id, in a request body, of an object of one of the caller's teams. Another id is a 404, as in a URL."""

    def __init__(self, *, team_path="team", **kwargs):
        self.team_path = team_path
        super().__init__(**kwargs)

    def get_queryset(self):
        return scoped(super().get_queryset(), self.context["request"].user, self.team_path)

    def to_internal_value(self, data):
        try:
            return super().to_internal_value(data)
        except serializers.ValidationError as exc:
            if exc.get_codes() == ["does_not_exist"]:
                raise exceptions.NotFound(
                    f"No {self.queryset.model._meta.verbose_name} {data} in your teams."
                ) from None
            raise


class TeamField(ScopedField):
    def __init__(self, **kwargs):
        super().__init__(queryset=Team.objects.all(), team_path="pk", **kwargs)


def in_team_param(queryset, request):
    """`queryset` narrowed to the team of `?team=ID` (one of the caller's, else a 404), or whole without one."""
    raw = request.query_params.get("team")
    if raw in (None, ""):
        return queryset
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
        raise exceptions.ValidationError({"team": ["A team is given by its id, a whole number."]})
    team = get_scoped(Team.objects.all(), request.user, what=f"team {raw}", team_path="pk", pk=int(raw))
    return queryset.filter(team=team)


def bool_param(request, name):
    raw = request.query_params.get(name, "").lower()
    if raw not in ("", "true", "false", "1", "0"):
        raise exceptions.ValidationError({name: ["true or false."]})
    return raw in ("true", "1")


def choice_param(request, name, choices):
    raw = request.query_params.get(name, "")
    if raw and raw not in choices:
        raise exceptions.ValidationError({name: [f"One of {', '.join(choices)}."]})
    return raw or None


def int_param(request, name):
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return None
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
        raise exceptions.ValidationError({name: ["A whole number, please."]})
    return int(raw)


# ---------------------------------------------------------------------------------------------------------
# One shape for every error


class ErrorBodySerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Stable and machine-readable, e.g. not_found, invalid, refused.")
    message = serializers.CharField(help_text="For a person: what went wrong and what to do.")
    details = serializers.DictField(required=False, help_text="Field errors, or facts such as retry_after.")


class ErrorSerializer(serializers.Serializer):
    error = ErrorBodySerializer()


ERROR_WORDS = {
    400: "Invalid input (`invalid`, with field errors in details), a file that cannot be read (`invalid_file`) "
         "or a request the rules refuse (`refused`).",
    401: "No credentials, or a bad, revoked or expired token.",
    403: "You lack the role this needs (the message names it), the token's scope does not cover it, or a rule "
         "such as four eyes forbids it.",
    404: "No such object in your teams.",
    409: "The object is in use.",
    429: "Too many requests for this token; details.retry_after says when to try again.",
}


def documented(ok, *errors):
    """The `responses` of extend_schema: the successes given, the errors listed, and those any endpoint may
    answer: 400 (a malformed request), 401, 403 (a token whose scope does not cover it) and 429."""
    codes = set(errors) | {400, 401, 403, 429}
    return ok | {code: OpenApiResponse(ErrorSerializer, description=ERROR_WORDS[code]) for code in sorted(codes)}


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"
    default_detail = "The object is in use."


class Refused(exceptions.APIException):
    """A PromptOptError: the request was understood, and the rules refuse it (the message says which)."""

    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "refused"
    default_detail = "The rules refuse this request."


def _summary(detail):
    """One sentence out of DRF's nested field errors: the first error, with the field it is about."""
    if isinstance(detail, dict):
        for field, value in detail.items():
            inner = _summary(value)
            return inner if field == "non_field_errors" else f"{field}: {inner}"
    if isinstance(detail, list) and detail:
        return _summary(detail[0])
    return str(detail)


def error_response(status_code, code, message, details=None, headers=None):
    body = {"code": code, "message": message}
    if details:
        body["details"] = details
    return Response({"error": body}, status=status_code, headers=headers)


def exception_handler(exc, context):
    """DRF's errors, the domain's (PromptOptError, NotAllowed, InUse, DatasetFileError), 404s and validation errors, all
    as {"error": {code, message, details}}."""
    if isinstance(exc, NotAllowed):
        exc = exceptions.PermissionDenied(exc.message)
    elif isinstance(exc, InUse):
        exc = Conflict(exc.message)
    elif isinstance(exc, DatasetFileError):
        return error_response(400, "invalid_file", exc.message)
    elif isinstance(exc, PromptOptError):
        exc = Refused(exc.message)
    elif isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(exc.messages)
    elif isinstance(exc, DataError):  # a value the database cannot hold (PostgreSQL and a NUL byte in a file)
        exc = exceptions.ValidationError(f"A value cannot be stored: {exc}")
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound(*exc.args)
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(*exc.args)
    elif isinstance(exc, SuspiciousOperation):  # a body past DATA_UPLOAD_MAX_MEMORY_SIZE, too many fields or files
        return error_response(400, "bad_request", f"The request was refused: {exc}")

    from rest_framework.views import exception_handler as drf_exception_handler  # not at import: DRF imports us

    response = drf_exception_handler(exc, context)  # sets WWW-Authenticate, Retry-After, and rolls back
    if response is None:
        if settings.DEBUG:
            return None  # Django's debug page
        logger.error("Unhandled error in %s", context.get("view"), exc_info=exc)
        return error_response(500, "server_error", "Something went wrong on our side; it has been logged.")

    if isinstance(exc, exceptions.ValidationError):
        code, message = "invalid", _summary(exc.detail)
        details = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
    else:
        codes = exc.get_codes()
        code = codes if isinstance(codes, str) else exc.default_code
        message, details = _summary(exc.detail), None
        if isinstance(exc, exceptions.Throttled):
            details = {"retry_after": exc.wait}
    response.data = {"error": {"code": code, "message": message, **({"details": details} if details else {})}}
    return response


# ---------------------------------------------------------------------------------------------------------
# What every API view shares


class Pagination(PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 200


class ApiConventions:
    """Mixed into every APIView of the API (before APIView). This module cannot import APIView: DRF imports it
    from its settings while rest_framework.views is still loading."""

    pagination_class = Pagination  # also what tells drf-spectacular to document list responses as pages

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        # PostgreSQL cannot hold a NUL character in text: a NUL in a lookup would be its error, a 500.
        parts = [str(value) for value in kwargs.values()]
        parts += [text for key, values in request.query_params.lists() for text in (key, *values)]
        if any("\x00" in part for part in parts):
            raise exceptions.ValidationError("The URL holds a NUL character.")
        if any(isinstance(value, int) and value > 2**63 - 1 for value in kwargs.values()):
            raise exceptions.NotFound("No such object: the id is larger than any id.")  # the database would fail

    def paginated(self, queryset, serializer_class):
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(queryset, self.request, view=self)
        data = serializer_class(page, many=True, context={"request": self.request}).data
        return paginator.get_paginated_response(data)


def valid_input(serializer_class, request, **context):
    """The request body checked by an input serializer (a 400 with field errors otherwise)."""
    serializer = serializer_class(data=request.data, context={"request": request, **context})
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data
