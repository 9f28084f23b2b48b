"""What operators do to an instance (REST `cancel/`, `suspend/`, `resume/`, `retry/`, delete;
the admin's actions): each takes the instance row lock first (`instance_lock`)."""

from django.db import transaction
from django.utils import timezone

from runtime import engine
from runtime.engine import InvalidTransition
from workflows.errors import Conflict
from workflows.models import (
    Bookmark,
    InstanceStatus,
    Step,
    StepStatus,
    Tenant,
    WorkflowInstance,
)
from workflows.plans import plan_for_instance
from workflows.services.apply import ResultApplier
from workflows.services.instances import instance_lock
from workflows.services.outbox import steps_publish_again_on_commit
from workflows.services.records import ResultRecorder


def _refuse(instance: WorkflowInstance, action: str) -> Conflict:
    return Conflict(f"Cannot {action} an instance that is {instance.status}.",
                    code="invalid_transition", details={"status": instance.status})


@transaction.atomic
def instance_cancel(*, tenant: Tenant, instance_id) -> WorkflowInstance:
    """Cancel an active instance: pending steps and bookmarks are dropped, children cancelled.
    A step already running finishes, but its result is discarded."""
    instance = instance_lock(tenant, instance_id)
    if instance.status not in InstanceStatus.active():
        raise _refuse(instance, "cancel")
    plan = plan_for_instance(instance)
    recorder = ResultRecorder(instance)
    recorder.add(engine.cancel(plan, instance.state, now=timezone.now()))
    instance.state["status"] = InstanceStatus.CANCELLED
    instance.held = False
    Bookmark.objects.filter(instance=instance).delete()
    Step.objects.filter(instance=instance, status__in=[StepStatus.PENDING,
                                                      StepStatus.RUNNING]).update(
        status=StepStatus.CANCELLED, finished_at=timezone.now())
    recorder.flush(now=timezone.now())
    for child_id in instance.children.filter(status__in=InstanceStatus.active()).values_list(
        "id", flat=True
    ):
        instance_cancel(tenant=tenant, instance_id=child_id)
    return instance


@transaction.atomic
def instance_hold(*, tenant: Tenant, instance_id) -> WorkflowInstance:
    """Hold an active instance: no new step of it runs until it is released (REST `resume/`)."""
    instance = instance_lock(tenant, instance_id)
    if instance.status not in InstanceStatus.active() or instance.held:
        raise _refuse(instance, "suspend")
    instance.held = True
    instance.status = InstanceStatus.SUSPENDED
    instance.save(update_fields=["held", "status", "updated_at"])
    return instance


@transaction.atomic
def instance_release(*, tenant: Tenant, instance_id) -> WorkflowInstance:
    """Release a held instance; its pending steps are published again."""
    instance = instance_lock(tenant, instance_id)
    if not instance.held:
        raise _refuse(instance, "resume")
    instance.held = False
    state_status = instance.state.get("status", InstanceStatus.RUNNING)
    instance.status = state_status if state_status in InstanceStatus.values \
        else InstanceStatus.RUNNING
    instance.save(update_fields=["held", "status", "updated_at"])
    pending = list(Step.objects.filter(instance=instance, status=StepStatus.PENDING,
                                       run_after__lte=timezone.now()))
    steps_publish_again_on_commit(pending)
    return instance


@transaction.atomic
def instance_retry(*, tenant: Tenant, instance_id) -> WorkflowInstance:
    """Run a faulted instance again from the activity that faulted (on the workers)."""
    instance = instance_lock(tenant, instance_id)
    if instance.status != InstanceStatus.FAULTED:
        raise _refuse(instance, "retry")
    plan = plan_for_instance(instance)
    try:
        result = engine.retry(plan, instance.state, now=timezone.now(), max_steps=1)
    except InvalidTransition as exc:
        raise Conflict(str(exc), code="invalid_transition") from exc
    instance.finished_at = None
    driver = ResultApplier(instance, plan)
    driver.apply(result)
    driver.finish()
    return instance


@transaction.atomic
def instance_delete(*, tenant: Tenant, instance_id) -> None:
    instance = instance_lock(tenant, instance_id)
    if instance.status in InstanceStatus.active():
        raise Conflict("Cancel the instance before deleting it.", code="instance_active")
    instance.delete()
