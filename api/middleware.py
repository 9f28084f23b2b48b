"""Request context for logs (request id, method, path) and the request-size guard."""

import time
import uuid

import structlog
from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import DataError
from django.http.request import split_domain_port

from api.errors import (
    DATABASE_ERRORS,
    data_error_response,
    database_unavailable_response,
    json_error_response,
    payload_too_large_response,
)
from workflows.text import NUL, nul_message

logger = structlog.get_logger("weft.request")


class RequestContextMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request_id = request.headers.get("X-Request-ID") or uuid.uuid4().hex
        request_id = request_id[:64]
        request.request_id = request_id  # for the audit log
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(
            request_id=request_id, method=request.method, path=request.path
        )
        started = time.perf_counter()
        try:
            response = self._guarded(request)
        except Exception:
            logger.exception("request_failed")
            response = json_error_response(
                "internal_error", "An unexpected error occurred; it has been logged.", 500
            )
        response["X-Request-ID"] = request_id
        logger.info(
            "request_finished",
            status=response.status_code,
            duration_ms=round((time.perf_counter() - started) * 1000, 2),
        )
        structlog.contextvars.clear_contextvars()
        return response

    def process_exception(self, request, exception):
        """Views outside DRF (hooks, probes): a database outage is a 503 and a value the
        database refuses a 400, not a 500."""
        if isinstance(exception, DATABASE_ERRORS):
            return database_unavailable_response(exception)
        if isinstance(exception, DataError):
            return data_error_response(exception)
        if isinstance(exception, RequestDataTooBig):  # Django's own limit, read by a view
            return payload_too_large_response(None, django_limit=True)
        return None

    def _guarded(self, request):
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return json_error_response("bad_request", "Invalid Content-Length header.", 400)
        query = request.META.get("QUERY_STRING", "")
        if NUL in request.path or "%00" in query or NUL in query:
            return json_error_response(
                "malformed_request", nul_message("the request's path or query"), 400)
        if length > settings.WEFT_MAX_REQUEST_BYTES:
            return payload_too_large_response(length)
        return self.get_response(request)


class HooksHostMiddleware:
    """With `WEFT_HOOKS_HOST` set, `/hooks/` answers only on that host name and nothing else
    does: a page a workflow serves then never shares an origin (cookies, storage, the admin
    session) with the API, the admin or the Studio."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        hooks_host = settings.WEFT_HOOKS_HOST
        # Probes come with whatever host name the load balancer uses.
        if hooks_host and request.path not in ("/healthz", "/readyz"):
            host, _port = split_domain_port(request.get_host())
            on_hooks_host = host == hooks_host.lower()
            if on_hooks_host != request.path.startswith("/hooks/"):
                return json_error_response("not_found", "Not found.", 404)
        return self.get_response(request)
