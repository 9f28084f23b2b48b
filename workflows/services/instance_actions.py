"""What operators do to an instance (REST `cancel/`, `suspend/`, `resume/`, `retry/`, delete;
the admin's actions): each takes the instance row lock first (`instance_lock`)."""

import structlog
from django.db import transaction
from django.utils import timezone

from runtime import engine
from runtime.engine import InvalidTransition
from workflows.errors import Conflict
from workflows.models import (
    Bookmark,
    InstanceStatus,
    Step,
    StepKind,
    StepStatus,
    Tenant,
    WorkflowInstance,
)
from workflows.plans import plan_for_instance
from workflows.services.apply import ResultApplier, notify_parent
from workflows.services.instances import instance_lock
from workflows.services.operator_journal import actor_label, journal_operator_action
from workflows.services.outbox import (
    new_step,
    steps_publish_again_on_commit,
    steps_publish_on_commit,
)
from workflows.services.payloads import payload_links_release
from workflows.services.records import ResultRecorder

logger = structlog.get_logger(__name__)


def _refuse(instance: WorkflowInstance, action: str) -> Conflict:
    return Conflict(f"Cannot {action} an instance that is {instance.status}.",
                    code="invalid_transition", details={"status": instance.status})


@transaction.atomic
def instance_cancel(*, tenant: Tenant, instance_id, actor: str | None = None) -> WorkflowInstance:
    """Cancel an active or faulted instance: pending steps and bookmarks are dropped, children
    cancelled. A step already running finishes, but its result is discarded."""
    instance = instance_lock(tenant, instance_id)
    if instance.status not in (*InstanceStatus.active(), InstanceStatus.FAULTED):
        raise _refuse(instance, "cancel")
    journal_operator_action(instance, action="cancelled", actor=actor)
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
    _parent_told(instance)
    for child_id in instance.children.filter(status__in=InstanceStatus.active()).values_list(
        "id", flat=True
    ):
        instance_cancel(tenant=tenant, instance_id=child_id, actor=actor)
    return instance


@transaction.atomic
def instance_hold(*, tenant: Tenant, instance_id, actor: str | None = None) -> WorkflowInstance:
    """Hold an active instance: no new step of it runs until it is released (REST `resume/`)."""
    instance = instance_lock(tenant, instance_id)
    if instance.status not in InstanceStatus.active() or instance.held:
        raise _refuse(instance, "suspend")
    instance.held = True
    instance.held_by = actor_label(actor)
    instance.held_at = timezone.now()
    instance.status = InstanceStatus.SUSPENDED
    journal_operator_action(instance, action="suspended", actor=actor)
    instance.save(update_fields=["held", "held_by", "held_at", "status", "state", "updated_at"])
    return instance


@transaction.atomic
def instance_release(*, tenant: Tenant, instance_id,
                     actor: str | None = None) -> WorkflowInstance:
    """Release a held instance; its pending steps are published again."""
    instance = instance_lock(tenant, instance_id)
    if not instance.held:
        raise _refuse(instance, "resume")
    journal_operator_action(instance, action="resumed", actor=actor,
                            data={"held_by": instance.held_by})
    instance.held = False
    instance.held_by = ""
    instance.held_at = None
    state_status = instance.state.get("status", InstanceStatus.RUNNING)
    instance.status = state_status if state_status in InstanceStatus.values \
        else InstanceStatus.RUNNING
    instance.save(update_fields=["held", "held_by", "held_at", "status", "state",
                                 "updated_at"])
    pending = list(Step.objects.filter(instance=instance, status=StepStatus.PENDING,
                                       run_after__lte=timezone.now()))
    steps_publish_again_on_commit(pending)
    return instance


@transaction.atomic
def instance_retry(*, tenant: Tenant, instance_id, actor: str | None = None) -> WorkflowInstance:
    """Run a faulted instance again from the activity that faulted (on the workers)."""
    instance = instance_lock(tenant, instance_id)
    if instance.status != InstanceStatus.FAULTED:
        raise _refuse(instance, "retry")
    journal_operator_action(instance, action="retried", actor=actor)
    plan = plan_for_instance(instance)
    try:
        # A held instance's retry only re-queues the work; it runs after `resume/`.
        result = engine.retry(plan, instance.state, now=timezone.now(),
                              max_steps=0 if instance.held else 1)
    except InvalidTransition as exc:
        raise Conflict(str(exc), code="invalid_transition") from exc
    instance.finished_at = None
    driver = ResultApplier(instance, plan)
    driver.apply(result)
    driver.steps += _outstanding_tasks_reissued(instance, requested={t.key for t in result.tasks})
    _claimed_stimuli_revived(instance)
    driver.finish()
    return instance


def _claimed_stimuli_revived(instance: WorkflowInstance) -> None:
    """Stimuli that reached the instance while it was faulted, or whose step went dead
    (poison): the bookmark was claimed, but its resume (or a child's end) was discarded or
    never finished. The engine still waits on that bookmark, so its latest such step runs
    again."""
    keys = set(instance.state.get("bookmarks") or {})
    if not keys:
        return
    claimed = keys - set(Bookmark.objects.filter(instance=instance, key__in=keys)
                         .values_list("key", flat=True))
    latest: dict[str, Step] = {}
    for step in Step.objects.filter(instance=instance, kind__in=[StepKind.RESUME, StepKind.FAIL],
                                    payload__bookmark_key__in=claimed).order_by("created_at"):
        latest[step.payload["bookmark_key"]] = step
    revived = [s for s in latest.values()
               if s.status in (StepStatus.CANCELLED, StepStatus.DEAD)]
    if revived:
        Step.objects.filter(pk__in=[s.pk for s in revived]).update(
            status=StepStatus.PENDING, deliveries=0, claimed_by=None, lease_until=None,
            finished_at=None, published_at=timezone.now())
        steps_publish_on_commit(revived)


def _outstanding_tasks_reissued(instance: WorkflowInstance, *, requested: set[str]) -> list[Step]:
    """New steps for the tasks the engine still waits on but no step will answer any more: while
    the instance was faulted, other branches' tasks ran and their results were discarded. Each
    runs again as its next attempt (same idempotency key, so a user function can tell a
    repeated call); a task whose step is still pending or running keeps it."""
    outstanding = set(instance.state.get("tasks") or {}) - requested
    if not outstanding:
        return []
    latest: dict[str, Step] = {}
    live: set[str] = set()
    for step in Step.objects.filter(instance=instance, task_key__in=outstanding).order_by(
            "attempt"):
        latest[step.task_key] = step
        if step.status in (StepStatus.PENDING, StepStatus.RUNNING):
            live.add(step.task_key)
    return [new_step(instance, StepKind.TASK, queue=step.queue, payload=step.payload,
                     task_key=key, attempt=step.attempt + 1)
            for key, step in latest.items() if key not in live]


@transaction.atomic
def instance_delete(*, tenant: Tenant, instance_id, actor: str | None = None) -> None:
    instance = instance_lock(tenant, instance_id)
    if instance.status in InstanceStatus.active():
        raise Conflict("Cancel the instance before deleting it.", code="instance_active")
    # A parent still waiting on this child (it ended without waking it) learns it is gone.
    if instance.status != InstanceStatus.FINISHED:
        instance.status = "deleted"
    _parent_told(instance)
    payload_links_release(instance_ids=[instance.pk])
    instance.delete()
    # The journal goes with the instance: the log line is the record of who deleted it.
    logger.info("instance_deleted", instance_id=str(instance_id),
                definition_id=instance.definition_id, actor=actor_label(actor))


def _parent_told(child: WorkflowInstance) -> None:
    """A child that ended outside the engine's own run (cancelled, deleted) wakes a parent
    waiting on it, as one that finishes or faults does (`apply.notify_parent`). A parent being
    cancelled has dropped its bookmarks first, so a cancel cascading down wakes nobody."""
    if child.parent_id and child.parent_bookmark_key:
        steps = notify_parent(child)
        Step.objects.bulk_create(steps)
        steps_publish_on_commit(steps)
