"""Dead letters: messages SQS moved to a dead-letter queue after 3 receives.

A beat task drains the dead-letter queues into the `DeadLetter` table (keeping the body), marks
the step dead and records an incident on its instance, so operators see it in the admin and
at `GET dead-letters/`. Re-driving runs the step again: a faulted instance is retried from the
activity that faulted; otherwise the step goes back to pending and is published.
"""

import os
from datetime import UTC, datetime

import boto3
import structlog
from django.db import transaction
from django.utils import timezone

from workflows import instruments
from workflows.broker import RUN_STEP_TASK, RUN_STEPS_TASK
from workflows.errors import Conflict, NotFound
from workflows.models import DeadLetter, InstanceStatus, Step, StepStatus, Tenant
from workflows.services.instance_actions import instance_retry
from workflows.services.instances import instance_lock
from workflows.services.operator_journal import journal_operator_action
from workflows.services.outbox import steps_publish_again_on_commit
from workflows.services.poison import step_mark_dead
from workflows.sqs.config import sqs_settings
from workflows.sqs.queues import decode_celery_message, delete_message, receive_dead_letters

logger = structlog.get_logger(__name__)


def _client(settings_):
    return boto3.client("sqs", **settings_.boto3_client_kwargs())


def dead_letters_collect(*, max_batches: int = 10) -> int:
    """Move what the dead-letter queues hold into the database; returns how many."""
    sqs = sqs_settings(os.environ)
    if not sqs.uses_sqs:
        return 0
    client = _client(sqs)
    collected = 0
    for base in sqs.base_queues:
        name = sqs.sqs_dead_letter_queue(base)
        url = sqs.queue_url(name) or client.get_queue_url(QueueName=name)["QueueUrl"]
        for _ in range(max_batches):
            letters = receive_dead_letters(client, url, max_messages=10, wait=0)
            if not letters:
                break
            for letter in letters:
                step_id = _record(name, letter)
                if step_id is not None:
                    step_mark_dead(step_id=step_id, reason="its message reached the "
                                                          f"dead-letter queue {name}")
                delete_message(client, url, letter["receipt_handle"])
                instruments.DEAD_LETTERS.labels(base).inc()
                collected += 1
    return collected


def _record(queue: str, letter: dict):
    try:
        message = decode_celery_message(letter["body"])
    except ValueError:
        message = {"task": "", "args": []}
    args = message.get("args") or []
    step = None
    if message.get("task") == RUN_STEP_TASK and args:
        step = Step.objects.filter(pk=args[0]).only("id", "tenant_id", "instance_id").first()
    elif message.get("task") == RUN_STEPS_TASK and args and args[0]:
        # A shared message: each of its steps that never finished is accounted for.
        step = (Step.objects.filter(pk__in=args[0]).exclude(status=StepStatus.DONE)
                .only("id", "tenant_id", "instance_id").first())
    sent = letter["attributes"].get("SentTimestamp")
    DeadLetter.objects.get_or_create(
        message_id=letter["message_id"],
        defaults={
            "queue": queue, "task_name": message.get("task") or "",
            "body": {"task": message.get("task"), "args": args,
                     "kwargs": message.get("kwargs") or {}, "id": message.get("id")},
            "receive_count": letter["attributes"].get("ApproximateReceiveCount") or 0,
            "received_at": datetime.fromtimestamp(sent / 1000, tz=UTC)
            if isinstance(sent, int) else timezone.now(),
            "step": step, "instance_id": step.instance_id if step else None,
            "tenant_id": step.tenant_id if step else None,
        },
    )
    logger.warning("dead_letter_received", queue=queue, message_id=letter["message_id"],
                   step_id=str(step.id) if step else None)
    return step.id if step else None


@transaction.atomic
def dead_letter_redrive(*, tenant: Tenant, dead_letter_id,
                        actor: str | None = None) -> DeadLetter:
    letter = DeadLetter.objects.select_for_update().filter(tenant=tenant,
                                                            id=dead_letter_id).first()
    if letter is None:
        raise NotFound(f"Dead letter {dead_letter_id} not found.")
    if letter.redriven_at is not None:
        raise Conflict("This dead letter was already re-driven.", code="already_redriven")
    step = Step.objects.select_related("instance").filter(pk=letter.step_id).first()
    if step is None:
        raise Conflict("The step of this message no longer exists.", code="step_gone")
    if step.instance.status == InstanceStatus.FAULTED:
        instance_retry(tenant=tenant, instance_id=step.instance_id, actor=actor)
    elif step.instance.status in InstanceStatus.active():
        instance = instance_lock(tenant, step.instance_id)
        journal_operator_action(instance, action="dead letter re-driven", actor=actor,
                                data={"message_id": letter.message_id, "step_id": str(step.id)})
        instance.save(update_fields=["state", "updated_at"])
        step.status = StepStatus.PENDING
        step.deliveries = 0
        step.lease_until = None
        step.save(update_fields=["status", "deliveries", "lease_until"])
        steps_publish_again_on_commit([step])
    else:
        raise Conflict(f"The instance is {step.instance.status}; nothing to re-drive.",
                       code="invalid_transition")
    letter.redriven_at = timezone.now()
    letter.save(update_fields=["redriven_at"])
    return letter
