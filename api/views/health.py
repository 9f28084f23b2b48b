"""Liveness and readiness probes (no authentication, no throttling)."""

import hmac
import time
import uuid

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import HttpResponse, JsonResponse
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.errors import json_error_response
from workflows.metrics import exposition
from workflows.sqs.queues import queues_status

# A positive queue check is remembered this long (probes come every few seconds).
QUEUES_OK_SECONDS = 30.0
_queues_ok_until = 0.0


@require_GET
def healthz(request) -> JsonResponse:
    return JsonResponse({"status": "ok"})


def _queues_check() -> tuple[str, str | None]:
    global _queues_ok_until
    if time.monotonic() < _queues_ok_until:
        return "ok", None
    state, message = queues_status(settings.WEFT_SQS)
    if state == "ok":
        _queues_ok_until = time.monotonic() + QUEUES_OK_SECONDS
    return state, message


@require_GET
def readyz(request) -> JsonResponse:
    """Ready when the database answers and, on SQS, the queues exist (missing queues are a
    setup step not taken: the message says which). A cache outage only degrades (reads fall
    back), and so does an unreachable SQS (steps wait in the outbox)."""
    checks: dict[str, str] = {}
    message = None
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception:
        checks["database"] = "unavailable"
    try:
        probe = f"readyz:{uuid.uuid4().hex}"
        cache.set(probe, "1", 5)
        checks["cache"] = "ok" if cache.get(probe) == "1" else "degraded"
        cache.delete(probe)
    except Exception:
        checks["cache"] = "degraded"
    if settings.WEFT_SQS.uses_sqs:
        checks["queues"], message = _queues_check()
    ready = checks["database"] == "ok" and checks.get("queues") != "missing"
    body: dict = {"status": "ready" if ready else "unavailable", "checks": checks}
    if message:
        body["message"] = message
    return JsonResponse(body, status=200 if ready else 503)


@require_GET
def metrics(request) -> HttpResponse:
    """Prometheus metrics: this process's counters and the fleet's gauges (workflows.metrics).

    With `WEFT_METRICS_TOKEN` set, a scrape must send `Authorization: Bearer <token>`."""
    token = settings.WEFT_METRICS_TOKEN
    if token:
        sent = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(sent.encode(), token.encode()):
            return json_error_response(
                "not_authenticated", "This endpoint needs the metrics bearer token.", 401)
    return HttpResponse(generate_latest(exposition()), content_type=CONTENT_TYPE_LATEST)
