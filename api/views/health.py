"""Liveness and readiness probes (no authentication, no throttling)."""

import uuid

from django.core.cache import cache
from django.db import connection
from django.http import HttpResponse, JsonResponse
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest


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
    """Prometheus metrics of this process (cache hits and misses, ...)."""
    return HttpResponse(generate_latest(), content_type=CONTENT_TYPE_LATEST)
