"""One shape for every error: {"error": {"code": ..., "message": ..., "details": ...}}, and its documentation."""

import logging

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import SuspiciousOperation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError
from django.http import Http404
from drf_spectacular.utils import OpenApiResponse
from rest_framework import exceptions, serializers
from rest_framework.response import Response

from ..errors import PromptOptError

logger = logging.getLogger("promptopt.api")


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


class DomainError(exceptions.APIException):
    """A PromptOptError, answered with the status and code its class carries (refused, permission_denied,
    conflict, invalid_file, ...) and its message."""

    def __init__(self, error):
        self.status_code = error.status_code
        super().__init__(error.message, error.code)


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
    """DRF's errors, the domain's (every PromptOptError, with its class's status and code), 404s and validation
    errors, all as {"error": {"code": ..., "message": ..., "details": ...}}."""
    if isinstance(exc, PromptOptError):
        exc = DomainError(exc)
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
