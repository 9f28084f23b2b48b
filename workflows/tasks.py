"""Celery tasks: thin adapters that call one service each. Found by Celery's autodiscovery
(`config/celery.py`); the broker adapter (`workflows.broker`) sends to them by name."""

import dataclasses

from celery import shared_task
from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.utils import timezone

from workflows.broker import RUN_STEP_TASK, RUN_STEPS_TASK
from workflows.services.archive import archive_store_from_settings
from workflows.services.audit import audit_entries_purge
from workflows.services.dead_letters import dead_letters_collect
from workflows.services.events import retained_events_purge
from workflows.services.poison import PoisonStep
from workflows.services.resumes import resumes_process
from workflows.services.retention import retention_apply
from workflows.services.runner import step_process
from workflows.services.sweeper import steps_sweep
from workflows.services.timers import timers_fire_due
from workflows.services.triggers import trigger_fire
from workflows.services.workers import workers_mark_lost

# The database is restarting or failing over. A step's state is safe in it (a claim either
# committed or did not), so the message is simply sent again after a short backoff instead of
# waiting out the visibility timeout (5 min). It never goes to the dead-letter queue for this:
# an outage is not the step's fault.
DATABASE_ERRORS = (OperationalError, InterfaceError)
MAX_DATABASE_BACKOFF_SECONDS = 60


def _retry_after_database_error(task, exc: Exception):
    countdown = min(MAX_DATABASE_BACKOFF_SECONDS, 2 ** min(task.request.retries, 6))
    return task.retry(exc=exc, countdown=countdown, max_retries=None)


@shared_task(name=RUN_STEP_TASK, acks_late=True, ignore_result=True)
def process_step(step_id: str) -> str:
    try:
        return step_process(step_id=step_id, worker=process_step.request.hostname or "worker")
    except DATABASE_ERRORS as exc:
        raise _retry_after_database_error(process_step, exc) from exc


@shared_task(name=RUN_STEPS_TASK, acks_late=True, ignore_result=True)
def process_steps(step_ids: list[str]) -> list[str]:
    worker = process_steps.request.hostname or "worker"
    poison = None
    try:
        # The message's resumes together (one transaction); the rest one by one.
        outcomes, step_ids = resumes_process(step_ids=step_ids, worker=worker)
        for step_id in step_ids:
            try:
                outcomes.append(step_process(step_id=step_id, worker=worker))
            except PoisonStep as exc:  # the others still run; the message then stays unacked
                poison = exc
    except DATABASE_ERRORS as exc:  # the steps already done are skipped when it comes back
        raise _retry_after_database_error(process_steps, exc) from exc
    if poison is not None:
        raise poison
    return outcomes


@shared_task(name="weft.sweep_steps", ignore_result=True)
def sweep_steps() -> dict:
    return steps_sweep()


@shared_task(name="weft.collect_dead_letters", ignore_result=True)
def collect_dead_letters() -> int:
    return dead_letters_collect()


@shared_task(name="weft.mark_lost_workers", ignore_result=True)
def mark_lost_workers() -> int:
    return workers_mark_lost()


@shared_task(name="weft.fire_trigger", ignore_result=True)
def fire_trigger(trigger_id: int) -> str:
    return trigger_fire(trigger_id=trigger_id)


@shared_task(name="weft.fire_due_timers", ignore_result=True)
def fire_due_timers() -> int:
    return timers_fire_due()


@shared_task(name="weft.purge_retained_events", ignore_result=True)
def purge_retained_events() -> int:
    return retained_events_purge()


@shared_task(name="weft.purge_audit_entries", ignore_result=True)
def purge_audit_entries() -> int:
    return audit_entries_purge(now=timezone.now(),
                               retention_days=settings.WEFT_AUDIT_RETENTION_DAYS)


@shared_task(name="weft.apply_retention", ignore_result=True)
def apply_retention() -> dict:
    return dataclasses.asdict(retention_apply(store=archive_store_from_settings()))
