"""Liveness and readiness probes (no authentication, no throttling)."""

import hmac
import uuid

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import HttpResponse, JsonResponse
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.errors import json_error_response
from workflows.metrics import exposition


@require_GET
def healthz(request) -> JsonResponse:
    return JsonResponse({"status": "ok"})


@require_GET
def readyz(request) -> JsonResponse:
    """Ready when the database answers. A cache outage only degrades (reads fall back)."""
    checks: dict[str, str] = {}
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
    ready = checks["database"] == "ok"
    return JsonResponse(
        {"status": "ready" if ready else "unavailable", "checks": checks},
        status=200 if ready else 503,
    )


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
