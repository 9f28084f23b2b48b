"""The Celery application. Broker wiring (SQS) comes from settings (`CELERY_*`, built by
workflows.sqs.config from the environment); see docs/sqs.md."""

import logging
import os

from celery import Celery
from celery.signals import celeryd_after_setup, worker_init, worker_process_init

from workflows.process_identity import register_worker_process
from workflows.sqs.kombu_guard import install_kombu_sqs_guard, kombu_sqs_guard_installed

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

# Before any worker polls: one 503 from SQS would otherwise stop the worker (kombu 5.7.0).
install_kombu_sqs_guard()

app = Celery("weft")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Finds `workflows/tasks.py` (weft.run_step, ...) as in any Django project.
app.autodiscover_tasks()


# By name: Celery loads the bootstep when a worker starts, after Django is set up (the module
# uses the models); importing it here would run before the apps are ready.
app.steps["worker"].add("workflows.worker:WorkerHeartbeat")


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


@worker_process_init.connect
def _prepare_forked_child(**kwargs):
    # Imported when the signal fires: this module is imported before Django's apps are ready.
    from workflows.worker import prepare_forked_child

    prepare_forked_child()
