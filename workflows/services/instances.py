"""Instances: create (inputs, activation strategy), lock, and start on the workers.

Activation: only `singleton` and `correlated-singleton` starts take an advisory start lock
(per definition, or per definition and correlation id), and they only try it: a start never
waits for another start. A start that finds the lock taken answers the same conflict as one
that finds an active instance (the other start is past its checks and about to commit one), so
two definitions that start each other as children cannot deadlock, and `always` starts (the
default) run in parallel. The lock lasts until the inserting transaction commits; synchronous
runs (`inline.instance_start_inline`) commit the new instance first and run it afterwards, so
no external call happens under it. `instance_lock` takes the instance row lock
(`SELECT ... FOR UPDATE`), always before any step or bookmark row of that instance.
"""

import structlog
from django.db import transaction
from django.utils import timezone

from runtime import engine
from runtime.engine.masking import mask_secrets
from workflows import instruments, tracing
from workflows.errors import Conflict, InvalidInput, NotFound
from workflows.locks import advisory_xact_try_lock
from workflows.models import InstanceStatus, StepKind, Tenant, WorkflowInstance
from workflows.plans import plan_for
from workflows.selectors.definitions import PublishedDefinition, definition_get_published
from workflows.services.outbox import new_step, queue_of, steps_publish_on_commit

logger = structlog.get_logger(__name__)


def activation_of(plan) -> str:
    return plan.options.get("activation", "always")


def _claim_activation(*, tenant: Tenant, plan, definition_id: str,
                      correlation_id: str | None) -> None:
    """Enforce the activation strategy: no lock at all for `always`; for the singletons, the
    start lock (tried, never waited for), then no other active instance."""
    activation = activation_of(plan)
    if activation == "always":
        return
    active = WorkflowInstance.objects.filter(
        tenant=tenant, definition_id=definition_id, status__in=InstanceStatus.active()
    )
    key = f"weft:start:{tenant.pk}:{definition_id}"
    if activation == "correlated-singleton":
        if not correlation_id:
            raise InvalidInput(
                "This definition is a correlated singleton: a correlation_id is required.",
                errors=[{"path": "correlation_id", "message": "Required."}],
            )
        active = active.filter(correlation_id=correlation_id)
        key = f"{key}:{correlation_id}"
    scope = f" per correlation id ('{correlation_id}')" if correlation_id and \
        activation == "correlated-singleton" else ""
    if not advisory_xact_try_lock(key):
        raise Conflict(
            f"Definition '{definition_id}' allows one active instance{scope}; another start "
            "is in progress.",
            code="activation_conflict", details={"instance_id": None},
        )
    existing = active.values_list("id", flat=True).first()
    if existing is not None:
        raise Conflict(
            f"Definition '{definition_id}' allows one active instance{scope}; instance "
            f"{existing} is still active.",
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
    _claim_activation(tenant=tenant, plan=plan, definition_id=published.definition_id,
                      correlation_id=correlation_id)
    instance = WorkflowInstance(
        tenant=tenant, definition_version_id=published.pk, definition_id=published.definition_id,
        version=published.version, status=status, correlation_id=correlation_id,
        input=mask_secrets(clean_input, engine.secret_names(plan)),  # shown, never read back
        parent=parent, parent_bookmark_key=parent_bookmark_key,
    )
    instance.trace_context = tracing.instance_trace_context(
        instance=instance, parent_instance_id=parent.id if parent is not None else None)
    instance.state = engine.start_state(
        plan, instance_id=str(instance.id), input=clean_input, correlation_id=correlation_id,
        now=timezone.now(), trigger=trigger,
    )
    instance.save(force_insert=True)
    instruments.instance_started_on_commit(definition_id=published.definition_id)
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


@transaction.atomic
def instance_dispatch(*, tenant: Tenant, definition_id: str, input=None,
                      correlation_id: str | None = None,
                      trigger: dict | None = None) -> WorkflowInstance:
    """Start the published version on the workers: the instance and its first step are
    written together; the step is published after commit."""
    published = definition_get_published(tenant=tenant, definition_id=definition_id)
    instance, plan = instance_create(tenant=tenant, published=published, raw_input=input,
                                     correlation_id=correlation_id, trigger=trigger,
                                     status=InstanceStatus.PENDING)
    step = new_step(instance, StepKind.ADVANCE, queue=queue_of(plan))
    step.save(force_insert=True)
    steps_publish_on_commit([step])
    return instance
