"""Every failure leaves the API as `{"error": {"code", "message", "details"}}`."""

from typing import Any

import structlog
from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.db import DataError, InterfaceError, OperationalError
from django.http import Http404, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from workflows.errors import Conflict, Forbidden, InvalidInput, NotFound, Unavailable, WeftError

logger = structlog.get_logger(__name__)

_DOMAIN_STATUS = {
    InvalidInput: status.HTTP_400_BAD_REQUEST,
    NotFound: status.HTTP_404_NOT_FOUND,
    Conflict: status.HTTP_409_CONFLICT,
    Forbidden: status.HTTP_403_FORBIDDEN,
    Unavailable: status.HTTP_503_SERVICE_UNAVAILABLE,
}

_DRF_CODES = {
    exceptions.ParseError: "malformed_request",
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.AuthenticationFailed: "authentication_failed",
    exceptions.PermissionDenied: "permission_denied",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.NotAcceptable: "not_acceptable",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.Throttled: "throttled",
    exceptions.ValidationError: "invalid",
}


def error_body(code: str, message: str, details: Any = None) -> dict:
    return {"error": {"code": code, "message": message, "details": details or {}}}


def flatten_validation_errors(detail: Any, path: str = "") -> list[dict]:
    """DRF's nested error structure as a flat list of `{"path", "message"}` (JSON paths)."""
    if isinstance(detail, dict):
        problems = []
        for key, value in detail.items():
            if key in ("non_field_errors", "detail"):
                problems += flatten_validation_errors(value, path)
            else:
                problems += flatten_validation_errors(value, f"{path}.{key}" if path else str(key))
        return problems
    if isinstance(detail, list):
        if all(not isinstance(item, dict | list) for item in detail):
            return [{"path": path, "message": str(item)} for item in detail]
        problems = []
        for index, item in enumerate(detail):
            problems += flatten_validation_errors(item, f"{path}[{index}]")
        return problems
    return [{"path": path, "message": str(detail)}]


def _drf_code(exc: exceptions.APIException) -> str:
    for cls in type(exc).__mro__:
        if cls in _DRF_CODES:
            return _DRF_CODES[cls]
    return getattr(exc, "default_code", None) or "error"


# The database is restarting, failing over or refusing connections: the request can be retried
# as it is, so this is a 503 with Retry-After rather than an "unexpected" 500.
DATABASE_ERRORS = (OperationalError, InterfaceError)
DATABASE_RETRY_AFTER_SECONDS = 5


def database_unavailable_response(exc: Exception) -> JsonResponse:
    """Used by DRF's exception handler and, for other views, by RequestContextMiddleware."""
    logger.warning("database_unavailable", error=str(exc).strip()[:500])
    response = JsonResponse(
        error_body("database_unavailable", "The database is unavailable; retry shortly.",
                   {"retry_after": DATABASE_RETRY_AFTER_SECONDS}),
        status=status.HTTP_503_SERVICE_UNAVAILABLE,
    )
    response["Retry-After"] = str(DATABASE_RETRY_AFTER_SECONDS)
    return response


def data_error_response(exc: Exception) -> JsonResponse:
    """PostgreSQL refused a value the request carried (out of range, not storable): the input
    is at fault, so a 400. Validation should have caught it; the warning says what slipped by."""
    logger.warning("data_refused_by_database", error=str(exc).strip()[:500])
    return JsonResponse(
        error_body("invalid_data", "A value in the request cannot be stored: "
                   f"{str(exc).strip().splitlines()[0][:200]}"),
        status=status.HTTP_400_BAD_REQUEST,
    )


def exception_handler(exc: Exception, context: dict) -> Response | JsonResponse:
    if isinstance(exc, DATABASE_ERRORS):
        return database_unavailable_response(exc)
    if isinstance(exc, DataError):
        return data_error_response(exc)
    if isinstance(exc, RequestDataTooBig):
        return payload_too_large_response(None, django_limit=True)
    if isinstance(exc, WeftError):
        code = next(
            (s for cls, s in _DOMAIN_STATUS.items() if isinstance(exc, cls)),
            status.HTTP_400_BAD_REQUEST,
        )
        return Response(error_body(exc.code, exc.message, exc.details), status=code)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        logger.exception("unhandled_api_error", error_type=type(exc).__name__)
        return Response(
            error_body("internal_error", "An unexpected error occurred; it has been logged."),
            status=status.HTTP_500_INTERNAL_SERVER_ERROR,
        )
    if isinstance(exc, exceptions.ValidationError):
        errors = flatten_validation_errors(exc.detail)
        response.data = error_body("invalid", "The request is not valid.", {"errors": errors})
    elif isinstance(exc, exceptions.Throttled):
        response.data = error_body(
            "throttled", "Too many requests; retry later.", {"retry_after": exc.wait}
        )
    else:
        message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        response.data = error_body(_drf_code(exc), str(message))
    return response


def json_error_response(code: str, message: str, status_code: int,
                        details: Any = None) -> JsonResponse:
    return JsonResponse(error_body(code, message, details), status=status_code)


def payload_too_large_response(size: int | None, *, django_limit: bool = False) -> JsonResponse:
    """413 for a body over `WEFT_MAX_REQUEST_BYTES`, or over Django's own
    `DATA_UPLOAD_MAX_MEMORY_SIZE` when that one tripped (docs/operations.md "Request size")."""
    setting = "DATA_UPLOAD_MAX_MEMORY_SIZE" if django_limit else "WEFT_MAX_REQUEST_BYTES"
    limit = getattr(settings, setting)
    said = f"Request body is {size} bytes; the" if size is not None else \
        "The request body is too large; the"
    return json_error_response(
        "payload_too_large", f"{said} limit is {limit} bytes ({setting}).", 413,
        {"limit": limit, **({"size": size} if size is not None else {})})


def handler404(request, exception=None) -> JsonResponse:
    return json_error_response("not_found", "Not found.", 404)


def handler500(request) -> JsonResponse:
    return json_error_response("internal_error", "An unexpected error occurred.", 500)


def handler400(request, exception=None) -> JsonResponse:
    return json_error_response("bad_request", "Bad request.", 400)


def handler403(request, exception=None) -> JsonResponse:
    return json_error_response("permission_denied", "Permission denied.", 403)
