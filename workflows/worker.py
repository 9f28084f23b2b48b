"""Worker-process additions, installed on the Celery app as a bootstep:

- at start, the queues it consumes must exist: they are created when allowed
  (`WEFT_SQS_CREATE_QUEUES=1`), else the worker exits with one line that says what to run;

- a heartbeat thread that registers the process and reports it every few seconds (its
  registration id, under which it and its pool children claim steps; hostname, pid, the pids
  of its pool, queues, steps in flight), since SQS offers no remote control;
- on warm shutdown (SIGTERM), the process reports `stopping` and then `stopped`;
- after a pool child is forked, it forgets the database connections it inherited and sizes
  its own pool for one task at a time.
"""

import os
import socket
import threading
import time

import boto3
import structlog
from botocore.exceptions import BotoCoreError, ClientError
from celery import bootsteps
from django.conf import settings
from django.db import close_old_connections, connections
from django.utils import timezone

from workflows import instruments
from workflows.metrics import metrics_server_start
from workflows.process_identity import register_worker_process
from workflows.services.workers import worker_heartbeat
from workflows.sqs.config import sqs_safe_name, sqs_settings
from workflows.sqs.queues import ensure_queues, missing_queues, missing_queues_message

logger = structlog.get_logger(__name__)


class WorkerHeartbeat(bootsteps.StartStopStep):
    requires = {"celery.worker.components:Pool"}

    def __init__(self, worker, **kwargs):
        super().__init__(worker, **kwargs)
        self.thread = None
        self.stopped = threading.Event()
        self.started_at = timezone.now()
        # Normally done already by `worker_init` (config/celery.py), before the pool forked.
        self.registration_id = register_worker_process()

    def _report(self, worker, state: str) -> None:
        queues = sorted(worker.app.amqp.queues.consume_from or worker.app.amqp.queues)
        try:
            worker_heartbeat(name=worker.hostname, hostname=socket.gethostname(),
                             pid=os.getpid(), queues=queues, started_at=self.started_at,
                             state=state, registration_id=self.registration_id,
                             pool_pids=pool_pids(worker))
        except Exception as exc:  # the database may be briefly away; keep beating
            logger.warning("worker_heartbeat_failed", error=str(exc))
        else:
            instruments.WORKER_HEARTBEATS.labels(state).inc()
            instruments.WORKER_LAST_HEARTBEAT.set(time.time())
        finally:
            instruments.pool_stats_sample()
            close_old_connections()

    def start(self, worker):
        def beat():
            while not self.stopped.is_set():
                self._report(worker, "online")
                self.stopped.wait(settings.WEFT_WORKER_HEARTBEAT_SECONDS)

        self.thread = threading.Thread(target=beat, name="weft-heartbeat", daemon=True)
        self.thread.start()

    def stop(self, worker):
        self.stopped.set()
        if self.thread is not None:
            self.thread.join(timeout=5)
        self._report(worker, "stopped")


def worker_queues_check(worker) -> None:
    """Celery's `celeryd_after_setup`: the SQS queues this worker consumes exist, or are
    created when `WEFT_SQS_CREATE_QUEUES=1`; otherwise the worker stops with one line (kombu
    would die later on a QueueDoesNotExist traceback)."""
    sqs = settings.WEFT_SQS
    if not sqs.uses_sqs:
        return
    consumed = sorted(worker.app.amqp.queues.consume_from or worker.app.amqp.queues)
    names = [sqs_safe_name(sqs.prefix + name) for name in consumed]
    try:
        client = boto3.client("sqs", **sqs.boto3_client_kwargs())
        missing = missing_queues(client, names)
        if missing and sqs.create_queues:
            ensure_queues(client, missing, visibility_timeout=sqs.visibility_timeout,
                          max_receive_count=sqs.max_receive_count, fifo=sqs.fifo)
            logger.warning("sqs_queues_created", queues=missing)
            return
    except (BotoCoreError, ClientError) as exc:
        # SQS unreachable for now: kombu's own connection retries take it from here.
        logger.warning("sqs_queue_check_failed", error=str(exc))
        return
    if missing:
        raise SystemExit(missing_queues_message(missing))


def pool_pids(worker) -> list[int]:
    """The processes that run this worker's steps: its prefork children, or itself (solo and
    thread pools)."""
    pids = [os.getpid()]
    try:
        pids += [int(pid) for pid in (worker.pool.info or {}).get("processes") or []]
    except Exception as exc:  # a pool starting or stopping: report what is certain
        logger.debug("pool_pids_unavailable", error=str(exc))
    return pids


class WorkerMetricsServer(bootsteps.StartStopStep):
    """Serves this host's worker metrics (main process and prefork children, added up from
    PROMETHEUS_MULTIPROC_DIR) on `WEFT_METRICS_PORT`, when set."""

    def __init__(self, worker, **kwargs):
        super().__init__(worker, **kwargs)
        self.server = None

    def start(self, worker):
        port = os.environ.get("WEFT_METRICS_PORT")
        if port:
            instruments.worker_labels_initialise(queues=sqs_settings(os.environ).base_queues)
            self.server = metrics_server_start(int(port))

    def stop(self, worker):
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


def prepare_forked_child() -> None:
    """Celery's `worker_process_init`: runs in each prefork pool child after the fork."""
    forget_inherited_database_connections()
    size_child_database_pool()


def size_child_database_pool() -> None:
    """A prefork child runs one task at a time (plus its step's lease renewal), so the
    per-process pool of a web or main worker process (min 10) would only hold idle sessions:
    a host with 8 children would keep 80 open. Children get WEFT_DB_POOL_CHILD_MIN/MAX."""
    for connection in connections.all():
        pool = connection.settings_dict.get("OPTIONS", {}).get("pool")
        if isinstance(pool, dict):
            connection.settings_dict["OPTIONS"]["pool"] = {
                **pool,
                "min_size": settings.WEFT_DB_POOL_CHILD_MIN,
                "max_size": max(settings.WEFT_DB_POOL_CHILD_MIN, settings.WEFT_DB_POOL_CHILD_MAX),
            }


# Inherited pools are kept referenced so that their destructors never run in the child.
_INHERITED_POOLS: list = []


def forget_inherited_database_connections() -> None:
    """Run in a freshly forked process (Celery's `worker_process_init`).

    The worker's main process uses the database (heartbeats), so a child forked later (a
    replacement for a child that died or hit its task limit) inherits the parent's psycopg pool:
    the class-level pool Django keeps and the open connections in it. Using them from two
    processes would interleave two sessions on one socket. The child drops its references
    without closing anything (closing would end the parent's sessions on the server) and opens
    its own pool on first use. psycopg itself never closes a connection another process opened.
    """
    # The pool dict lives on the backend class, so it is cleared even when this thread's
    # connection wrapper was never used (the parent's heartbeat thread opened the pool).
    for connection in connections.all():
        connection.connection = None
        connection.in_atomic_block = False
        connection.savepoint_ids = []
        pools = getattr(type(connection), "_connection_pools", None)
        if pools:
            _INHERITED_POOLS.extend(pools.values())
            pools.clear()
