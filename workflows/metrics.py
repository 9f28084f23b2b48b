"""Prometheus metrics owned by the workflows layer (served at /metrics later)."""

from prometheus_client import Counter

DEFINITION_CACHE_REQUESTS = Counter(
    "weft_definition_cache_requests_total",
    "Published-definition cache lookups by result (hit, miss, error).",
    ["result"],
)
