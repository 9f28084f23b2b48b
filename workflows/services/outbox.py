"""The outbox: a step is a row written in the transaction that schedules it, and published to
the broker only after that transaction commits. Every module that schedules work builds its
steps here (`new_step`) and hands them to `steps_publish_on_commit`; nothing else talks to the
broker. Lowest layer of the services: it imports no other service.
"""

import structlog
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from workflows.broker import StepMessage, publish_messages
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
        # Due steps are published right after commit; the sweeper publishes the others, and
        # this one too should its sending never be confirmed (`sent_at`).
        published_at=now if run_after <= now else None,
        publish_count=1 if run_after <= now else 0,
    )


def queue_of(plan) -> str:
    return plan.options.get("queue") or "default"


def steps_publish_on_commit(steps: list[Step], *, per_message: int | None = None) -> None:
    if steps:
        # A snapshot: the step objects may change before the transaction commits.
        due = [(s.id, s.queue, s.publish_count) for s in steps]
        transaction.on_commit(lambda: steps_publish(due, per_message=per_message))


def steps_publish_again_on_commit(steps: list[Step]) -> None:
    """Publish steps that were published before (a held instance released, a dead letter
    re-driven): a new publish, so that FIFO deduplication does not drop it, and unconfirmed
    until the broker takes it. Call inside the transaction."""
    if steps:
        Step.objects.filter(pk__in=[s.pk for s in steps]).update(
            published_at=timezone.now(), sent_at=None, publish_count=F("publish_count") + 1)
        for step in steps:
            step.publish_count += 1
        steps_publish_on_commit(steps)


def steps_publish(steps: list[tuple], *, per_message: int | None = None) -> None:
    """Send the steps, (id, queue, publish number) each, to the broker, every one on its own
    queue. A few steps of a queue (a fork's branches) get one message each, so that idle
    workers take them in parallel; many at once (a thousand timers due in the same second, a
    sweep after an outage) go in messages of up to `WEFT_STEPS_PER_MESSAGE`, which keeps the
    queue short (a deep queue slows every receive). The messages of a queue are sent in
    batches (`SendMessageBatch` on SQS).

    What the broker accepted is marked sent (`sent_at`): the sweeper leaves those alone
    however long they wait in the queue. A failure leaves the steps unpublished for the
    sweeper's next pass, and so does a process that dies before sending (after
    `WEFT_STEP_REPUBLISH_AFTER`): a broker outage or a crash delays work, it never loses it.

    `per_message` overrides `WEFT_STEPS_PER_MESSAGE` (timers send their resumes
    `WEFT_RESUMES_PER_MESSAGE` to a message: a worker resumes them together)."""
    by_queue: dict[str, list[tuple[str, int]]] = {}
    for step_id, queue, publish_count in steps:
        by_queue.setdefault(queue, []).append((str(step_id), publish_count))
    failed: list[str] = []
    sent: list[str] = []
    for queue, queued in by_queue.items():
        messages = _messages(queued, per_message)
        try:
            refused = publish_messages(queue=queue, messages=messages)
        except Exception as exc:  # the broker is unreachable: nothing of this queue went
            logger.warning("step_publish_failed", queue=queue, steps=len(queued),
                           error=str(exc))
            refused = messages
        refused_ids = {step_id for message in refused for step_id in message.step_ids}
        failed += refused_ids
        sent += [step_id for step_id, _ in queued if step_id not in refused_ids]
    if sent:
        Step.objects.filter(pk__in=sent, status=StepStatus.PENDING, sent_at__isnull=True).update(
            sent_at=timezone.now())
    if failed:
        Step.objects.filter(pk__in=failed, status=StepStatus.PENDING).update(published_at=None)


def _messages(queued: list[tuple[str, int]], per_message: int | None = None) -> list[StepMessage]:
    if len(queued) <= settings.WEFT_STEPS_SINGLE_MESSAGES:
        return [StepMessage((step,)) for step in queued]
    per_message = per_message or settings.WEFT_STEPS_PER_MESSAGE
    return [StepMessage(tuple(queued[i:i + per_message]))
            for i in range(0, len(queued), per_message)]
