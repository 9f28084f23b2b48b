"""Prometheus metrics owned by the workflows layer, served at /metrics.

Two kinds:
- counters this process increments (the definition cache's hits and misses). Under gunicorn
  with several workers, PROMETHEUS_MULTIPROC_DIR (which config/gunicorn.conf.py sets) makes
  every process write its counters to that directory and /metrics add them up
  (`process_registry`).
- fleet gauges read from the database at scrape time (`OperationsCollector`): due and stalled
  steps, overdue timers, workers by state, dead letters waiting. They are the same whichever
  process answers, since workers and beats keep no metrics of their own that a scrape could
  reach.
"""

import os
import time

import structlog
from prometheus_client import REGISTRY, CollectorRegistry, Counter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

logger = structlog.get_logger(__name__)

DEFINITION_CACHE_REQUESTS = Counter(
    "weft_definition_cache_requests_total",
    "Published-definition cache lookups by result (hit, miss, error).",
    ["result"],
)


def process_registry():
    """This process's counters, or every gunicorn worker's when running multiprocess."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        return registry
    return REGISTRY


class OperationsCollector:
    """Gauges computed from the database when scraped; cached briefly so that several
    Prometheus servers (or a refresh-happy dashboard) cost one set of queries."""

    def __init__(self, ttl_seconds: float = 5.0) -> None:
        self.ttl_seconds = ttl_seconds
        self._cached: tuple[float, list] | None = None

    def collect(self):
        now = time.monotonic()
        if self._cached is None or now - self._cached[0] > self.ttl_seconds:
            self._cached = (now, self._families())
        yield from self._cached[1]

    def _families(self) -> list:
        from django.utils import timezone

        from workflows.selectors.operations import operations_snapshot

        up = GaugeMetricFamily("weft_operations_scrape_ok",
                               "1 when the database answered the operations queries.")
        try:
            snap = operations_snapshot(now=timezone.now())
        except Exception as exc:  # a scrape must answer even while the database is down
            logger.warning("operations_metrics_unavailable", error=str(exc))
            up.add_metric([], 0)
            return [up]
        up.add_metric([], 1)
        families = [up]
        for name, help_text, value in (
            ("weft_steps_due", "Pending steps whose run-after time has come.", snap.steps_due),
            ("weft_steps_due_oldest_age_seconds",
             "How long the oldest due step has waited for a worker.", snap.oldest_due_step_age),
            ("weft_steps_running", "Steps claimed by a worker.", snap.steps_running),
            ("weft_steps_stalled", "Running steps whose lease expired (their worker died); the "
                                   "sweeper takes them back.", snap.steps_stalled),
            ("weft_timers_overdue", "Timers more than 5 s past their due time, not fired.",
             snap.timers_overdue),
            ("weft_timers_overdue_oldest_age_seconds", "How late the latest-firing timer is.",
             snap.oldest_overdue_timer_age),
            ("weft_dead_letters_waiting", "Dead-lettered messages not re-driven yet.",
             snap.dead_letters_waiting),
        ):
            family = GaugeMetricFamily(name, help_text)
            family.add_metric([], value)
            families.append(family)
        workers = GaugeMetricFamily("weft_workers", "Worker processes by state.",
                                    labels=["state"])
        for state in ("online", "stopping", "lost"):
            workers.add_metric([state], snap.workers.get(state, 0))
        families.append(workers)
        return families


class _Exposition:
    """What /metrics renders: the process (or multiprocess) counters, then the fleet gauges."""

    def __init__(self, *collectors) -> None:
        self.collectors = collectors

    def collect(self):
        for collector in self.collectors:
            yield from collector.collect()


OPERATIONS = OperationsCollector()


def exposition():
    return _Exposition(process_registry(), OPERATIONS)
