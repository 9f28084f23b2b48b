"""The Celery application. Broker wiring (SQS) comes from settings (`CELERY_*`, built by
workflows.sqs.config from the environment); see docs/sqs.md."""

import logging
import os
import tempfile
from pathlib import Path

from celery import Celery
from celery.signals import (
    beat_init,
    celeryd_after_setup,
    task_postrun,
    worker_init,
    worker_process_init,
    worker_process_shutdown,
    worker_shutdown,
)

from workflows.process_identity import register_worker_process
from workflows.sqs.batched_acks import ack_batches_flush, install_batched_acks
from workflows.sqs.kombu_guard import install_kombu_sqs_guard, kombu_sqs_guard_installed

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")


def _prepare_metrics_directory() -> None:
    """A worker (or beat) that serves metrics gets a private PROMETHEUS_MULTIPROC_DIR before
    prometheus-client is first imported, so that its prefork children write their values where
    its endpoint adds them up (as config/gunicorn.conf.py does for the web)."""
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        return
    if not (os.environ.get("WEFT_METRICS_PORT") or os.environ.get("WEFT_BEAT_METRICS_PORT")):
        return
    directory = Path(tempfile.gettempdir()) / f"weft-metrics-{os.getpid()}"
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink()
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)


_prepare_metrics_directory()

# Before any worker polls: one 503 from SQS would otherwise stop the worker (kombu 5.7.0).
install_kombu_sqs_guard()
# Deletes of acknowledged messages in batches, off the event loop (workflows/sqs/batched_acks.py).
install_batched_acks()

app = Celery("weft")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Finds `workflows/tasks.py` (weft.run_step, ...) as in any Django project.
app.autodiscover_tasks()


# By name: Celery loads the bootstep when a worker starts, after Django is set up (the module
# uses the models); importing it here would run before the apps are ready.
app.steps["worker"].add("workflows.worker:WorkerHeartbeat")
app.steps["worker"].add("workflows.worker:WorkerMetricsServer")


@celeryd_after_setup.connect
def _log_broker_guard(sender, instance, conf, **kwargs):
    # Logged here because the import-time message precedes Celery's logging setup.
    logging.getLogger("weft.sqs").info(
        "kombu SQS receive-error guard: %s",
        "installed" if kombu_sqs_guard_installed() else "NOT installed",
    )


@celeryd_after_setup.connect
def _check_worker_queues(sender, instance, conf, **kwargs):
    # Imported when the signal fires: this module is imported before Django's apps are ready.
    from workflows.worker import worker_queues_check

    worker_queues_check(instance)


@worker_init.connect
def _register_worker_process(**kwargs):
    # Before the pool forks: its children claim steps under this worker's registration.
    register_worker_process()


def _pool_forks(worker) -> bool:
    # Imported here: the web imports this module too, and has no use for the pool's code.
    from celery.concurrency import get_implementation
    from celery.concurrency.prefork import TaskPool as PreforkTaskPool

    return issubclass(get_implementation(worker.pool_cls), PreforkTaskPool)


@worker_init.connect
def _trace_unforked_worker(sender=None, **kwargs):
    # Traces are set up where the tasks run: here for the solo and thread pools; in each child
    # of a prefork pool (below), never in its main process (workflows.tracing says why).
    if sender is not None and not _pool_forks(sender):
        from workflows.tracing import tracing_configure

        tracing_configure()


@worker_process_init.connect
def _prepare_forked_child(**kwargs):
    # Imported when the signal fires: this module is imported before Django's apps are ready.
    from workflows.tracing import tracing_configure
    from workflows.worker import prepare_forked_child

    prepare_forked_child()
    tracing_configure()


@task_postrun.connect
def _sample_pool_after_task(**kwargs):
    from workflows.instruments import pool_stats_sample

    pool_stats_sample()


@worker_shutdown.connect
def _send_pending_deletes(**kwargs):
    # After the last acks: what is not deleted now comes back after its visibility timeout.
    ack_batches_flush()


@worker_process_shutdown.connect
def _flush_child_spans(**kwargs):
    # A pool child leaves with os._exit: the spans of its last tasks are sent now or never.
    from workflows.tracing import tracing_flush

    tracing_flush()


@worker_process_shutdown.connect
def _forget_child_metrics(pid=None, **kwargs):
    # A dead child's per-process gauges (pool usage) must leave the host's endpoint.
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid or os.getpid())


@beat_init.connect
def _serve_beat_metrics(sender=None, **kwargs):
    port = os.environ.get("WEFT_BEAT_METRICS_PORT")
    if port:
        from workflows.metrics import metrics_server_start

        metrics_server_start(int(port))
