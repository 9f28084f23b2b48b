"""Poison steps: a step delivered too often without finishing (its worker died each time), or
whose message reached the dead-letter queue, goes dead, and its instance faults with an
incident an operator can act on. Lock order: the step row, then its instance row.
"""

from django.db import transaction
from django.utils import timezone

from runtime import engine
from workflows.models import Incident, InstanceStatus, Step, StepKind, StepStatus
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
    activity_id = (step.payload or {}).get("activity_id", "")
    if step.kind == StepKind.TASK and step.task_key:
        result = engine.fail_task(plan, instance.state, task_key=step.task_key,
                                  now=timezone.now(),
                                  error={"message": f"poison step: {reason}", "type": "Poison"})
        if not result.ignored and result.incidents:
            applier = ResultApplier(instance, plan)
            applier.apply(result)
            applier.finish()
            return
    Incident.objects.create(instance=instance, activity_id=activity_id,
                            activity_type=(step.payload or {}).get("activity_type", ""),
                            code="poison_step", message=f"Step {step.id}: {reason}",
                            created_at=timezone.now(), data={"step_id": str(step.id)})
    instance.status = InstanceStatus.FAULTED
    instance.finished_at = instance.finished_at or timezone.now()  # retention counts from it
    instance.save(update_fields=["status", "finished_at", "updated_at"])
