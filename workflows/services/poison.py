"""Poison steps: a step delivered too often without finishing (its worker died each time), or
whose message reached the dead-letter queue, goes dead, and its instance faults with an
incident an operator can act on. Lock order: the step row, then its instance row.
"""

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from runtime import engine
from workflows.models import InstanceStatus, Step, StepKind, StepStatus
from workflows.plans import plan_for_instance
from workflows.services.apply import ResultApplier
from workflows.services.instances import instance_lock


class PoisonStep(Exception):
    """A message for a dead step. Raised (not returned) so that the broker does not delete the
    message: after its third receive SQS moves it to the dead-letter queue, where operators
    see it."""

    def __init__(self, step_id) -> None:
        super().__init__(f"step {step_id} is dead (poison); its message goes to the DLQ")
        self.step_id = step_id


@transaction.atomic
def step_mark_dead(*, step_id, reason: str) -> None:
    """A poison step: it stops being retried, and its instance faults with an incident that
    an operator can act on (fix, then `instances/{id}/retry/` or re-drive)."""
    step = Step.objects.select_for_update().filter(pk=step_id).first()
    if step is None or step.status in (StepStatus.DONE, StepStatus.CANCELLED, StepStatus.DEAD):
        return
    instance = instance_lock(None, step.instance_id)
    step.status = StepStatus.DEAD
    step.finished_at = timezone.now()
    step.error = {"message": reason}
    step.save(update_fields=["status", "finished_at", "error"])
    if instance.status not in InstanceStatus.active():
        return
    plan = plan_for_instance(instance)
    now = timezone.now()
    message = f"poison step {step.id} ({step.kind}): {reason}"
    result = None
    if step.kind == StepKind.TASK and step.task_key:
        # A held instance only records the failure (under `continue` nothing runs on).
        result = engine.fail_task(plan, instance.state, task_key=step.task_key, now=now,
                                  error={"message": message, "type": "Poison"},
                                  max_steps=0 if instance.held else
                                  settings.WEFT_BURST_MAX_STEPS)
        if result.ignored or not result.incidents:
            result = None
    if result is None:
        # Not a task (an advance, a resume, a child's end), or a task the engine no longer
        # waits on: the instance faults through the engine all the same, so that its row and
        # its state agree and retry, cancel and re-drive all work. A retry runs the dead step
        # again (`instance_actions.instance_retry`).
        result = engine.fault(plan, instance.state, now=now, message=message,
                              code="poison_step", activity_id=_activity_of(step, instance))
    applier = ResultApplier(instance, plan)
    applier.apply(result)
    applier.finish()


def _activity_of(step: Step, instance) -> str | None:
    """The activity a step was about, when it names one (a task, or a bookmark it resumes)."""
    payload = step.payload or {}
    if payload.get("activity_id"):
        return payload["activity_id"]
    bookmark = (instance.state.get("bookmarks") or {}).get(payload.get("bookmark_key") or "")
    return bookmark.get("activity_id") if bookmark else None
