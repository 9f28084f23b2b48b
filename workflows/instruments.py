"""Prometheus instruments every Weft process updates (web, worker main process and prefork
children, beat), with bounded labels only: definition id, activity type, outcome, status,
queue, pool alias; never instance or step ids.

Under prometheus-client's multiprocess mode (PROMETHEUS_MULTIPROC_DIR, set by
`config/gunicorn.conf.py` for the web and by `config/celery.py` for workers and beat when a
metrics port is configured) each process writes its values to that directory and the process
that serves the scrape adds them up. Gauges that describe one process carry its pid
(`multiprocess_mode="liveall"`).

Values are recorded after commit (`transaction.on_commit`) so that a rolled-back transaction
counts nothing.
"""

from datetime import datetime
from functools import partial

from django.db import connections, transaction
from prometheus_client import Counter, Gauge, Histogram

from workflows.sqs.config import base_queue_name

DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 14400, 86400)
ACTIVITY_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)
FINAL_STATUSES = ("finished", "faulted", "cancelled")
FINAL_EXECUTION_STATUSES = ("completed", "faulted", "cancelled")

DEFINITION_CACHE_REQUESTS = Counter(
    "weft_definition_cache_requests_total",
    "Published-definition cache lookups by result (hit, miss, error).", ["result"])
INSTANCES_STARTED = Counter(
    "weft_instances_started_total", "Workflow instances created.", ["definition_id"])
INSTANCES_FINISHED = Counter(
    "weft_instances_finished_total", "Workflow instances that reached a final status.",
    ["definition_id", "status"])
WORKFLOW_DURATION = Histogram(
    "weft_workflow_duration_seconds",
    "From an instance's creation to its final status (finished, faulted, cancelled).",
    ["definition_id", "status"], buckets=DURATION_BUCKETS)
ACTIVITY_EXECUTIONS = Counter(
    "weft_activity_executions_total", "Activity executions that ended, by type and outcome "
    "(completed, faulted, cancelled).", ["activity_type", "outcome"])
ACTIVITY_DURATION = Histogram(
    "weft_activity_execution_duration_seconds", "How long an activity execution took.",
    ["activity_type", "outcome"], buckets=ACTIVITY_BUCKETS)
STEPS_PROCESSED = Counter(
    "weft_steps_processed_total", "Steps a worker processed, by queue and what happened "
    "(done, retrying, discarded, skipped).", ["queue", "outcome"])
STEP_RETRIES = Counter(
    "weft_step_retries_total", "Failed task steps scheduled again (a retry).", ["queue"])
DEAD_LETTERS = Counter(
    "weft_dead_letters_total", "Messages collected from a dead-letter queue.", ["queue"])
WORKER_HEARTBEATS = Counter(
    "weft_worker_heartbeats_total", "Heartbeats a worker process reported.", ["state"])
WORKER_LAST_HEARTBEAT = Gauge(
    "weft_worker_last_heartbeat_timestamp_seconds",
    "Unix time of this worker process's last heartbeat.", multiprocess_mode="liveall")
BEAT_LEADER = Gauge(
    "weft_beat_leader", "1 while this beat process leads (holds the lock), 0 on standby.",
    multiprocess_mode="liveall")
DB_POOL_SIZE = Gauge("weft_db_pool_size", "Connections the psycopg pool of this process holds.",
                     ["alias"], multiprocess_mode="liveall")
DB_POOL_IN_USE = Gauge("weft_db_pool_in_use", "Pool connections lent out right now.",
                       ["alias"], multiprocess_mode="liveall")
DB_POOL_WAITING = Gauge("weft_db_pool_waiting", "Requests waiting for a pool connection.",
                        ["alias"], multiprocess_mode="liveall")
DB_POOL_MAX = Gauge("weft_db_pool_max_size", "The pool's maximum size.", ["alias"],
                    multiprocess_mode="liveall")


def _seconds(start, end) -> float | None:
    if isinstance(start, str):
        start = datetime.fromisoformat(start)
    if isinstance(end, str):
        end = datetime.fromisoformat(end)
    if start is None or end is None:
        return None
    return max(0.0, (end - start).total_seconds())


def _observe_records(instance_final: tuple | None, executions: list[tuple]) -> None:
    if instance_final is not None:
        definition_id, status, duration = instance_final
        INSTANCES_FINISHED.labels(definition_id, status).inc()
        if duration is not None:
            WORKFLOW_DURATION.labels(definition_id, status).observe(duration)
    for activity_type, outcome, duration in executions:
        ACTIVITY_EXECUTIONS.labels(activity_type, outcome).inc()
        if duration is not None:
            ACTIVITY_DURATION.labels(activity_type, outcome).observe(duration)


def records_observe_on_commit(*, instance, status_before: str, executions) -> None:
    """What a `ResultRecorder.flush` wrote: an instance that just reached a final status, and
    the activity executions that ended."""
    final = None
    if instance.status in FINAL_STATUSES and status_before not in FINAL_STATUSES:
        final = (instance.definition_id, instance.status,
                 _seconds(instance.created_at, instance.finished_at))
    ended = [(record["type"], record["status"],
              _seconds(record.get("started_at"), record.get("finished_at")))
             for record in executions if record.get("status") in FINAL_EXECUTION_STATUSES]
    if final is not None or ended:
        transaction.on_commit(partial(_observe_records, final, ended))


def instance_started_on_commit(*, definition_id: str) -> None:
    transaction.on_commit(INSTANCES_STARTED.labels(definition_id).inc)


def step_processed(*, queue: str, outcome: str) -> None:
    """A worker processed a step of `queue` (a definition's `options.queue`, as stored)."""
    name = base_queue_name(queue) if queue != "unknown" else queue
    STEPS_PROCESSED.labels(name, outcome).inc()
    if outcome == "retrying":
        STEP_RETRIES.labels(name).inc()


def worker_labels_initialise(*, queues) -> None:
    """Zero-valued series for every queue and outcome a worker may report, so that rates and
    alerts see 0 rather than nothing before the first retry or dead letter."""
    for queue in queues:
        for outcome in ("done", "retrying", "discarded"):
            STEPS_PROCESSED.labels(queue, outcome)
        STEP_RETRIES.labels(queue)
        DEAD_LETTERS.labels(queue)
    for state in ("online", "stopped"):
        WORKER_HEARTBEATS.labels(state)


def pool_stats_sample() -> None:
    """This process's psycopg pools, from the pool's own statistics. Reads the pools Django
    already opened (never opens one)."""
    for connection in connections.all():
        pools = getattr(type(connection), "_connection_pools", None) or {}
        pool = pools.get(connection.alias)
        if pool is None:
            continue
        stats = pool.get_stats()
        size = stats.get("pool_size", 0)
        DB_POOL_SIZE.labels(connection.alias).set(size)
        DB_POOL_IN_USE.labels(connection.alias).set(size - stats.get("pool_available", 0))
        DB_POOL_WAITING.labels(connection.alias).set(stats.get("requests_waiting", 0))
        DB_POOL_MAX.labels(connection.alias).set(stats.get("pool_max", pool.max_size))
