"""The outbox: a step is a row written in the transaction that schedules it, and published to
the broker only after that transaction commits. Every module that schedules work builds its
steps here (`new_step`) and hands them to `steps_publish_on_commit`; nothing else talks to the
broker. Lowest layer of the services: it imports no other service.
"""

import structlog
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from workflows.broker import publish_step, publish_steps
from workflows.models import Step, StepStatus, WorkflowInstance

logger = structlog.get_logger(__name__)

# What a single upsert changes on a step that already exists (the one just completed).
STEP_UPSERT_FIELDS = ["status", "finished_at", "error", "lease_until"]


def new_step(instance: WorkflowInstance, kind: str, *, queue: str, payload: dict | None = None,
             task_key: str | None = None, attempt: int = 1, run_after=None) -> Step:
    """An unsaved step of `instance` (anything with `id` and `tenant_id`)."""
    now = timezone.now()
    run_after = run_after or now
    return Step(
        tenant_id=instance.tenant_id, instance_id=instance.id, kind=kind, queue=queue,
        payload=payload or {}, task_key=task_key, attempt=attempt, run_after=run_after,
        # Due steps are published right after commit; the sweeper publishes the others.
        published_at=now if run_after <= now else None,
        publish_count=1 if run_after <= now else 0,
    )


def queue_of(plan) -> str:
    return plan.options.get("queue") or "default"


def steps_publish_on_commit(steps: list[Step]) -> None:
    if steps:
        due = [(s.id, s.queue, s.instance_id) for s in steps]
        transaction.on_commit(lambda: steps_publish(due))


def steps_publish(steps: list[tuple]) -> None:
    """Send the steps to the broker. A few steps (a fork's branches) get one message each, so
    that idle workers take them in parallel; many at once (a thousand timers due in the same
    second, a sweep after an outage) go in messages of up to `WEFT_STEPS_PER_MESSAGE`, which
    keeps the queue short (a deep queue slows every receive). A failure leaves the steps
    unpublished for the sweeper: a broker outage delays work, it never loses it."""
    failed = []
    per_message = settings.WEFT_STEPS_PER_MESSAGE
    if len(steps) <= settings.WEFT_STEPS_SINGLE_MESSAGES:
        batches = [[step] for step in steps]
    else:
        batches = [steps[i:i + per_message] for i in range(0, len(steps), per_message)]
    for batch in batches:
        try:
            if len(batch) == 1:
                step_id, queue, instance_id = batch[0]
                publish_step(step_id=step_id, queue=queue, group_id=instance_id)
            else:
                publish_steps(step_ids=[step_id for step_id, _, _ in batch], queue=batch[0][1])
        except Exception as exc:
            failed += [step_id for step_id, _, _ in batch]
            logger.warning("step_publish_failed", steps=len(batch), error=str(exc))
    if failed:
        Step.objects.filter(pk__in=failed, status=StepStatus.PENDING).update(published_at=None)
