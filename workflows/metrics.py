"""Prometheus metrics owned by the workflows layer, served at /metrics (web) and, on worker and
beat hosts, by `metrics_server_start` (`WEFT_METRICS_PORT`, `WEFT_BEAT_METRICS_PORT`).

The instruments every process updates are in `workflows.instruments`. This module serves them
and adds what is read when scraped (web only, so that one scrape costs one set of queries):
- counters this process increments (the definition cache's hits and misses). Under gunicorn
  with several workers, PROMETHEUS_MULTIPROC_DIR (which config/gunicorn.conf.py sets) makes
  every process write its counters to that directory and /metrics add them up
  (`process_registry`).
- fleet gauges read from the database at scrape time (`OperationsCollector`): due and stalled
  steps, overdue timers, workers by state, dead letters waiting, whether a beat holds the lock.
  They are the same whichever process answers.
- queue gauges (`QueueCollector`): each queue's messages from SQS's queue attributes and the
  age of its oldest due step, cached 15 s: the autoscaling signals.
"""

import os
import time

import boto3
import structlog
from django.conf import settings
from django.db import connections
from prometheus_client import REGISTRY, CollectorRegistry, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

from workflows.instruments import DEFINITION_CACHE_REQUESTS, pool_stats_sample
from workflows.sqs.config import base_queue_name, sqs_settings

# Re-exported: the counter moved to workflows.instruments with the others.
__all__ = ["DEFINITION_CACHE_REQUESTS", "exposition", "metrics_server_start",
           "process_registry"]

logger = structlog.get_logger(__name__)



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
        # Imported when scraped: this module is imported (by gunicorn's multiprocess setup and
        # by tests rendering the registry) where Django's apps may not be ready.
        from django.utils import timezone

        from workflows.scheduler import beat_lock_key
        from workflows.selectors import operations

        up = GaugeMetricFamily("weft_operations_scrape_ok",
                               "1 when the database answered the operations queries.")
        try:
            snap = operations.operations_snapshot(now=timezone.now())
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
        if connections["default"].vendor == "postgresql":
            lock = GaugeMetricFamily(
                "weft_beat_lock_held", "1 when a beat process holds the scheduler lock (leads).")
            key = beat_lock_key(str(settings.DATABASES["default"]["NAME"]))
            lock.add_metric([], 1 if operations.beat_lock_holders(lock_key=key) else 0)
            families.append(lock)
        return families


class QueueCollector:
    """Per queue: messages by state from SQS's `GetQueueAttributes` (visible, in flight,
    delayed; the dead-letter queue's visible ones), and due steps with the age of the oldest,
    from the outbox (SQS reports no message age; CloudWatch's ApproximateAgeOfOldestMessage
    is its AWS-side twin). Cached so that scrapes cost SQS at most one call per queue per TTL."""

    SQS_STATES = {"visible": "ApproximateNumberOfMessages",
                  "in_flight": "ApproximateNumberOfMessagesNotVisible",
                  "delayed": "ApproximateNumberOfMessagesDelayed"}

    def __init__(self, ttl_seconds: float = 15.0) -> None:
        self.ttl_seconds = ttl_seconds
        self._cached: tuple[float, list] | None = None
        self._client = None

    def collect(self):
        now = time.monotonic()
        if self._cached is None or now - self._cached[0] > self.ttl_seconds:
            self._cached = (now, self._families())
        yield from self._cached[1]

    def _sqs_attributes(self, sqs) -> dict[str, dict[str, int]]:
        if self._client is None:
            self._client = boto3.client("sqs", **sqs.boto3_client_kwargs())
        found = {}
        for base in sqs.base_queues:
            for name in (sqs.sqs_queue(base), sqs.sqs_dead_letter_queue(base)):
                url = sqs.queue_url(name) or self._client.get_queue_url(
                    QueueName=name)["QueueUrl"]
                attributes = self._client.get_queue_attributes(
                    QueueUrl=url, AttributeNames=list(self.SQS_STATES.values()))["Attributes"]
                found[name] = {state: int(attributes.get(key, 0))
                               for state, key in self.SQS_STATES.items()}
        return found

    def _families(self) -> list:
        from django.utils import timezone

        from workflows.selectors.operations import due_steps_by_queue

        sqs = sqs_settings(os.environ)
        up = GaugeMetricFamily("weft_queue_scrape_ok",
                               "1 when SQS and the database answered the queue queries.")
        messages = GaugeMetricFamily(
            "weft_queue_messages", "Messages in an SQS queue by state (visible, in_flight, "
            "delayed), from its queue attributes.", labels=["queue", "state"])
        dead = GaugeMetricFamily("weft_queue_dead_letter_messages",
                                 "Messages waiting in a queue's dead-letter queue.",
                                 labels=["queue"])
        due = GaugeMetricFamily("weft_queue_due_steps",
                                "Steps due on a queue and not claimed by a worker yet.",
                                labels=["queue"])
        oldest = GaugeMetricFamily(
            "weft_queue_oldest_message_age_seconds",
            "How long the oldest due step of a queue has waited for a worker.", labels=["queue"])
        try:
            by_queue = due_steps_by_queue(now=timezone.now())
            attributes = self._sqs_attributes(sqs) if sqs.uses_sqs else {}
        except Exception as exc:  # a scrape must answer while SQS or the database is away
            logger.warning("queue_metrics_unavailable", error=str(exc))
            up.add_metric([], 0)
            return [up]
        up.add_metric([], 1)
        # Labelled by base name (`workflow-tasks`, an `options.queue`), as the workers'
        # counters are: the prefix and FIFO suffix are deployment details.
        for base in sqs.base_queues:
            for state, value in attributes.get(sqs.sqs_queue(base), {}).items():
                messages.add_metric([base, state], value)
            dead_letters = attributes.get(sqs.sqs_dead_letter_queue(base))
            if dead_letters is not None:
                dead.add_metric([base], dead_letters["visible"])
            count, age = 0, 0.0
            for step_queue, (n, step_age) in by_queue.items():
                if base_queue_name(step_queue) == base:
                    count, age = count + n, max(age, step_age)
            due.add_metric([base], count)
            oldest.add_metric([base], age)
        return [up, messages, dead, due, oldest]


class _PoolSample:
    """Samples the answering process's pool just before its metrics are read."""

    def collect(self):
        pool_stats_sample()
        return iter(())


class _Exposition:
    """What /metrics renders: the process (or multiprocess) counters, then the fleet gauges."""

    def __init__(self, *collectors) -> None:
        self.collectors = collectors

    def collect(self):
        for collector in self.collectors:
            yield from collector.collect()


OPERATIONS = OperationsCollector()
QUEUES = QueueCollector()


def exposition():
    return _Exposition(_PoolSample(), process_registry(), OPERATIONS, QUEUES)


def metrics_server_start(port: int):
    """An HTTP endpoint with this host's process metrics (a worker's main process and its
    prefork children, or a beat); returns the server (`shutdown()` stops it)."""
    address = os.environ.get("WEFT_METRICS_ADDR", "0.0.0.0")  # noqa: S104 (scraped from outside)
    try:
        server, _thread = start_http_server(port, addr=address, registry=process_registry())
    except OSError as exc:  # a busy port must not stop the worker from running steps
        logger.error("metrics_server_failed", port=port, error=str(exc))
        return None
    logger.info("metrics_server_started", port=port,
                multiprocess=bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR")))
    return server
