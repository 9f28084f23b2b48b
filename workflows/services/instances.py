"""Instance lifecycle: create (inputs, activation), and the operator's actions."""

import structlog
from django.db import transaction
from django.utils import timezone

from runtime import engine
from runtime.engine import InvalidTransition
from runtime.engine.masking import mask_secrets
from workflows.errors import Conflict, InvalidInput, NotFound
from workflows.locks import advisory_xact_lock
from workflows.models import (
    Bookmark,
    InstanceStatus,
    Step,
    StepStatus,
    Tenant,
    WorkflowInstance,
)
from workflows.plans import plan_for, plan_for_instance
from workflows.selectors.definitions import PublishedDefinition

logger = structlog.get_logger(__name__)


def _lock_definition_starts(tenant: Tenant, definition_id: str) -> None:
    """Serialise starts of one definition so activation strategies hold under concurrency."""
    advisory_xact_lock(f"weft:start:{tenant.pk}:{definition_id}")


def _check_activation(*, tenant: Tenant, plan, definition_id: str,
                      correlation_id: str | None) -> None:
    activation = plan.options.get("activation", "always")
    if activation == "always":
        return
    active = WorkflowInstance.objects.filter(
        tenant=tenant, definition_id=definition_id, status__in=InstanceStatus.active()
    )
    if activation == "correlated-singleton":
        if not correlation_id:
            raise InvalidInput(
                "This definition is a correlated singleton: a correlation_id is required.",
                errors=[{"path": "correlation_id", "message": "Required."}],
            )
        active = active.filter(correlation_id=correlation_id)
    existing = active.values_list("id", flat=True).first()
    if existing is not None:
        raise Conflict(
            f"Definition '{definition_id}' allows one active instance"
            + (f" per correlation id ('{correlation_id}')" if correlation_id else "")
            + f"; instance {existing} is still active.",
            code="activation_conflict",
            details={"instance_id": str(existing)},
        )


def instance_create(*, tenant: Tenant, published: PublishedDefinition, raw_input,
                    correlation_id: str | None, parent: WorkflowInstance | None = None,
                    parent_bookmark_key: str | None = None, trigger: dict | None = None,
                    status: str = InstanceStatus.RUNNING):
    """Validate the input, enforce the activation strategy and insert the instance with its
    initial engine state. Call inside a transaction. Returns (instance, plan)."""
    plan = plan_for(definition_pk=published.pk, body=published.body)
    if raw_input is None:
        raw_input = {}
    if not isinstance(raw_input, dict):
        raise InvalidInput("input must be an object.",
                           errors=[{"path": "input", "message": "Expected an object."}])
    clean_input, problems = engine.validate_input(plan, raw_input)
    if problems:
        raise InvalidInput("The input does not match the definition's inputs.",
                           errors=[{"path": p.path, "message": p.message} for p in problems],
                           code="invalid_input")
    _lock_definition_starts(tenant, published.definition_id)
    _check_activation(tenant=tenant, plan=plan, definition_id=published.definition_id,
                      correlation_id=correlation_id)
    instance = WorkflowInstance(
        tenant=tenant, definition_version_id=published.pk, definition_id=published.definition_id,
        version=published.version, status=status, correlation_id=correlation_id,
        input=mask_secrets(clean_input, engine.secret_names(plan)),  # shown, never read back
        parent=parent, parent_bookmark_key=parent_bookmark_key,
    )
    instance.state = engine.start_state(
        plan, instance_id=str(instance.id), input=clean_input, correlation_id=correlation_id,
        now=timezone.now(), trigger=trigger,
    )
    instance.save(force_insert=True)
    return instance, plan


def instance_lock(tenant: Tenant | None, instance_id) -> WorkflowInstance:
    """The instance row, locked until the end of the transaction."""
    queryset = WorkflowInstance.objects.select_for_update(of=("self",)).select_related("tenant")
    if tenant is not None:
        queryset = queryset.filter(tenant=tenant)
    instance = queryset.filter(id=instance_id).first()
    if instance is None:
        raise NotFound(f"Instance {instance_id} not found.")
    return instance


def _refuse(instance: WorkflowInstance, action: str) -> Conflict:
    return Conflict(f"Cannot {action} an instance that is {instance.status}.",
                    code="invalid_transition", details={"status": instance.status})


@transaction.atomic
def instance_cancel(*, tenant: Tenant, instance_id) -> WorkflowInstance:
    """Cancel an active instance: pending steps and bookmarks are dropped, children cancelled.
    A step already running finishes, but its result is discarded."""
    from workflows.services.run_recorder import RunRecorder

    instance = instance_lock(tenant, instance_id)
    if instance.status not in InstanceStatus.active():
        raise _refuse(instance, "cancel")
    plan = plan_for_instance(instance)
    recorder = RunRecorder(instance)
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
def instance_suspend(*, tenant: Tenant, instance_id) -> WorkflowInstance:
    """Hold an active instance: no new step of it runs until it is resumed."""
    instance = instance_lock(tenant, instance_id)
    if instance.status not in InstanceStatus.active() or instance.held:
        raise _refuse(instance, "suspend")
    instance.held = True
    instance.status = InstanceStatus.SUSPENDED
    instance.save(update_fields=["held", "status", "updated_at"])
    return instance


@transaction.atomic
def instance_resume(*, tenant: Tenant, instance_id) -> WorkflowInstance:
    """Release a held instance; its pending steps are published again."""
    from workflows.services.steps import steps_publish_on_commit

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
    steps_publish_on_commit(pending)
    return instance


@transaction.atomic
def instance_retry(*, tenant: Tenant, instance_id) -> WorkflowInstance:
    """Run a faulted instance again from the activity that faulted (on the workers)."""
    from workflows.services.driver import InstanceDriver

    instance = instance_lock(tenant, instance_id)
    if instance.status != InstanceStatus.FAULTED:
        raise _refuse(instance, "retry")
    plan = plan_for_instance(instance)
    try:
        result = engine.retry(plan, instance.state, now=timezone.now(), max_steps=1)
    except InvalidTransition as exc:
        raise Conflict(str(exc), code="invalid_transition") from exc
    instance.finished_at = None
    driver = InstanceDriver(instance, plan, inline=False)
    driver.apply(result)
    driver.finish()
    return instance


@transaction.atomic
def instance_delete(*, tenant: Tenant, instance_id) -> None:
    instance = instance_lock(tenant, instance_id)
    if instance.status in InstanceStatus.active():
        raise Conflict("Cancel the instance before deleting it.", code="instance_active")
    instance.delete()
