"""Starting, running, resuming and cancelling instances in-process (synchronously).

The engine decides; this module applies: it runs task activities inline, starts children,
delivers published events, and persists each run in bulk through `RunRecorder`. A run is bounded
by a step budget and a time budget; past either it stops with a `budget_exhausted` incident and
keeps its state, so that a later runner can continue it.
"""

import time
from dataclasses import dataclass, field

import structlog
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from runtime import engine
from runtime.engine import TaskRequest, default_registry, execute_task, should_retry
from workflows.errors import Conflict, InvalidInput, NotFound
from workflows.models import Bookmark, InstanceStatus, Tenant, WorkflowInstance
from workflows.plans import plan_for
from workflows.selectors.definitions import PublishedDefinition, definition_get_published
from workflows.services.run_recorder import RunRecorder

logger = structlog.get_logger(__name__)

MAX_CHILD_DEPTH = 16


@dataclass
class Budget:
    """How much work one synchronous call may do (shared by the children it runs)."""

    max_steps: int
    deadline: float
    steps: int = 0

    @classmethod
    def default(cls) -> "Budget":
        return cls(max_steps=settings.WEFT_SYNC_MAX_STEPS,
                   deadline=time.monotonic() + settings.WEFT_SYNC_TIME_BUDGET)

    def remaining_steps(self) -> int:
        return max(0, self.max_steps - self.steps)

    def exhausted(self) -> bool:
        return self.steps >= self.max_steps or time.monotonic() >= self.deadline


@dataclass
class Delivery:
    """Side effects gathered while running, applied after the instance is persisted."""

    events: list[dict] = field(default_factory=list)


def _lock_definition_starts(tenant: Tenant, definition_id: str) -> None:
    """Serialise starts of one definition so activation strategies hold under concurrency."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
                           [f"weft:start:{tenant.pk}:{definition_id}"])


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
            f"Definition '{definition_id}' allows one running instance"
            + (f" per correlation id ('{correlation_id}')" if correlation_id else "")
            + f"; instance {existing} is still active.",
            code="activation_conflict",
            details={"instance_id": str(existing)},
        )


def _create_instance(*, tenant: Tenant, published: PublishedDefinition, raw_input,
                     correlation_id: str | None, parent: WorkflowInstance | None = None,
                     parent_bookmark_key: str | None = None, trigger: dict | None = None):
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
        version=published.version, status=InstanceStatus.RUNNING, correlation_id=correlation_id,
        input=clean_input, parent=parent, parent_bookmark_key=parent_bookmark_key,
    )
    instance.state = engine.start_state(
        plan, instance_id=str(instance.id), input=clean_input, correlation_id=correlation_id,
        now=timezone.now(), trigger=trigger,
    )
    return instance, plan


def _run_task_inline(plan, request: TaskRequest, state: dict):
    """Runs a task activity here and now, retrying at once up to its policy; returns the
    engine's answer. (Delayed retries on workers come with distributed execution.)"""
    attempt = request.attempt
    while True:
        log = logger.bind(step_id=request.key, activity_id=request.activity_id, attempt=attempt)
        try:
            output = execute_task(
                default_registry(), request, request.context(step_id=request.key, attempt=attempt),
                http_allowed_hosts=settings.WEFT_HTTP_ALLOWED_HOSTS,
            )
        except Exception as exc:
            if should_retry(request.retry, attempt, exc):
                log.warning("task_failed_retrying", error=str(exc))
                attempt += 1
                continue
            log.warning("task_failed", error=str(exc))
            return engine.fail_task(
                plan, state, task_key=request.key, now=timezone.now(),
                error={"message": str(exc) or type(exc).__name__, "type": type(exc).__name__,
                       "attempt": attempt},
            )
        return engine.complete_task(plan, state, task_key=request.key, output=output,
                                    now=timezone.now())


def _drive(instance: WorkflowInstance, plan, result, recorder: RunRecorder, budget: Budget,
           delivery: Delivery, depth: int) -> None:
    """Keeps calling the engine until the instance is terminal, waits on bookmarks, or the
    budget runs out."""
    tasks: list[TaskRequest] = []
    while True:
        recorder.add(result)
        budget.steps += result.steps
        tasks += result.tasks
        cancelled = set(result.cancelled_tasks)
        tasks = [task for task in tasks if task.key not in cancelled]
        for effect in result.effects:
            _apply_effect(instance, effect, recorder, budget, delivery, depth)
        if result.is_terminal:
            return
        if budget.exhausted() and (tasks or result.status == "budget_exhausted"):
            _budget_incident(instance, recorder, budget)
            return
        if tasks:
            result = _run_task_inline(plan, tasks.pop(0), instance.state)
        elif result.status == "budget_exhausted":
            result = engine.run(plan, instance.state, now=timezone.now(),
                                max_steps=min(budget.remaining_steps(), 1000) or 1)
        else:
            return


def _budget_incident(instance, recorder: RunRecorder, budget: Budget) -> None:
    message = (f"Synchronous execution stopped after {budget.steps} activity executions "
               "(step or time budget exhausted); the instance keeps its state.")
    recorder.incidents.append({"code": "budget_exhausted", "message": message,
                               "timestamp": timezone.now().isoformat()})
    recorder.journal.append({
        "sequence": instance.state["journal_seq"] + 1, "event": "incident", "message": message,
        "data": {"code": "budget_exhausted"}, "timestamp": timezone.now().isoformat(),
    })
    instance.state["journal_seq"] += 1


def _apply_effect(parent: WorkflowInstance, effect: dict, recorder: RunRecorder,
                  budget: Budget, delivery: Delivery, depth: int) -> None:
    kind = effect["type"]
    if kind == "publish_event":
        delivery.events.append(effect)
    elif kind == "start_child":
        _start_child(parent, effect, recorder, budget, delivery, depth)
    elif kind == "http_response":
        parent.state.setdefault("http_responses", []).append(
            {k: effect.get(k) for k in ("status", "headers", "body")}
        )


def _start_child(parent: WorkflowInstance, effect: dict, recorder: RunRecorder, budget: Budget,
                 delivery: Delivery, depth: int) -> None:
    bookmark_key = effect.get("bookmark_key")
    if depth >= MAX_CHILD_DEPTH:
        raise InvalidInput(f"Child workflows nest deeper than {MAX_CHILD_DEPTH} levels.",
                           code="child_depth_exceeded")
    published = definition_get_published(tenant=parent.tenant,
                                         definition_id=effect["definition_id"])
    # The parent must exist in the database before its child can point at it.
    recorder.flush(now=timezone.now())
    child, child_plan = _create_instance(
        tenant=parent.tenant, published=published, raw_input=effect.get("input") or {},
        correlation_id=parent.correlation_id, parent=parent,
        parent_bookmark_key=bookmark_key,
    )
    child.save(force_insert=True)
    child_recorder = RunRecorder(child)
    first = engine.run(child_plan, child.state, now=timezone.now(),
                       max_steps=budget.remaining_steps() or 1)
    _drive(child, child_plan, first, child_recorder, budget, delivery, depth + 1)
    child_recorder.flush(now=timezone.now())
    if bookmark_key and child.status in (InstanceStatus.FINISHED, InstanceStatus.FAULTED):
        _claim(parent, bookmark_key, recorder)
        result = _child_outcome(parent, child, bookmark_key)
        parent_plan = plan_for(definition_pk=parent.definition_version_id,
                               body=parent.definition_version.body)
        _drive(parent, parent_plan, result, recorder, budget, delivery, depth)


def _child_outcome(parent: WorkflowInstance, child: WorkflowInstance, bookmark_key: str):
    plan = plan_for(definition_pk=parent.definition_version_id,
                    body=parent.definition_version.body)
    if child.status == InstanceStatus.FINISHED:
        return engine.resume_bookmark(plan, parent.state, bookmark_key=bookmark_key,
                                      payload=child.output, now=timezone.now(),
                                      max_steps=1000)
    message = f"Child workflow {child.definition_id} ({child.id}) faulted."
    return engine.fail_task(plan, parent.state, task_key=bookmark_key, now=timezone.now(),
                            error={"message": message, "type": "ChildFaulted",
                                   "child_id": str(child.id)})


def _claim(instance: WorkflowInstance, bookmark_key: str, recorder: RunRecorder) -> None:
    """Removes a bookmark as part of resuming it (pending in this run, or in the database)."""
    if recorder.bookmarks.pop(bookmark_key, None) is None:
        Bookmark.objects.filter(instance=instance, key=bookmark_key).delete()


def _deliver(tenant: Tenant, delivery: Delivery, budget: Budget, depth: int) -> None:
    for effect in delivery.events:
        event_publish(tenant=tenant, name=effect["event"], payload=effect.get("payload"),
                      correlation_id=effect.get("correlation_id"), budget=budget,
                      depth=depth + 1)


@transaction.atomic
def instance_execute(*, tenant: Tenant, definition_id: str, input=None,
                     correlation_id: str | None = None) -> WorkflowInstance:
    """Start the published version and run it until finished, suspended, faulted or out of
    budget."""
    published = definition_get_published(tenant=tenant, definition_id=definition_id)
    instance, plan = _create_instance(tenant=tenant, published=published, raw_input=input,
                                      correlation_id=correlation_id)
    instance.save(force_insert=True)
    structlog.contextvars.bind_contextvars(instance_id=str(instance.id),
                                           definition_id=definition_id)
    budget, delivery = Budget.default(), Delivery()
    recorder = RunRecorder(instance)
    first = engine.run(plan, instance.state, now=timezone.now(),
                       max_steps=min(budget.max_steps, 1000))
    _drive(instance, plan, first, recorder, budget, delivery, depth=0)
    recorder.flush(now=timezone.now())
    _deliver(tenant, delivery, budget, depth=0)
    return instance


def _locked_instance(tenant: Tenant, instance_id) -> WorkflowInstance:
    instance = (
        WorkflowInstance.objects.select_for_update(of=("self",))
        .select_related("definition_version", "tenant")
        .filter(tenant=tenant, id=instance_id)
        .first()
    )
    if instance is None:
        raise NotFound(f"Instance {instance_id} not found.")
    return instance


def _resume_locked(instance: WorkflowInstance, bookmark: Bookmark, payload, budget: Budget,
                   delivery: Delivery, depth: int) -> None:
    deleted, _ = Bookmark.objects.filter(pk=bookmark.pk).delete()
    if not deleted:
        raise Conflict("This bookmark was already resumed.", code="bookmark_claimed")
    plan = plan_for(definition_pk=instance.definition_version_id,
                    body=instance.definition_version.body)
    recorder = RunRecorder(instance)
    result = engine.resume_bookmark(plan, instance.state, bookmark_key=bookmark.key,
                                    payload=payload, now=timezone.now(),
                                    max_steps=min(budget.remaining_steps(), 1000) or 1)
    _drive(instance, plan, result, recorder, budget, delivery, depth)
    recorder.flush(now=timezone.now())


@transaction.atomic
def bookmark_resume(*, tenant: Tenant, bookmark_id, payload=None) -> WorkflowInstance:
    """Resume one bookmark. The bookmark is claimed (deleted) under the instance's row lock in
    this transaction, so a second identical call finds nothing to resume."""
    bookmark = Bookmark.objects.filter(tenant=tenant, id=bookmark_id).only(
        "instance_id").first()
    if bookmark is None:
        raise NotFound(f"Bookmark {bookmark_id} not found.")
    instance = _locked_instance(tenant, bookmark.instance_id)
    bookmark = Bookmark.objects.filter(tenant=tenant, id=bookmark_id).first()
    if bookmark is None:
        raise Conflict("This bookmark was already resumed.", code="bookmark_claimed")
    budget, delivery = Budget.default(), Delivery()
    _resume_locked(instance, bookmark, payload, budget, delivery, depth=0)
    _deliver(tenant, delivery, budget, depth=0)
    return instance


def event_publish(*, tenant: Tenant, name: str, payload=None, correlation_id: str | None = None,
                  budget: Budget | None = None, depth: int = 0) -> dict:
    """Resume every bookmark waiting for this event (by name and correlation id). Each is
    claimed in its own transaction; one already claimed by a concurrent call is skipped."""
    if depth > MAX_CHILD_DEPTH:
        return {"resumed": [], "started": []}
    budget = budget or Budget.default()
    candidates = Bookmark.objects.filter(tenant=tenant, name=name, data__kind="event")
    if correlation_id:
        from django.db.models import Q

        candidates = candidates.filter(Q(correlation_id=correlation_id)
                                       | Q(correlation_id__isnull=True))
    resumed: list[str] = []
    for bookmark_id, instance_id in candidates.values_list("id", "instance_id"):
        delivery = Delivery()
        with transaction.atomic():
            instance = _locked_instance(tenant, instance_id)
            bookmark = Bookmark.objects.filter(pk=bookmark_id).first()
            if bookmark is None:
                continue
            _resume_locked(instance, bookmark, payload, budget, delivery, depth)
        resumed.append(str(instance_id))
        _deliver(tenant, delivery, budget, depth)
    return {"resumed": resumed, "started": []}


@transaction.atomic
def instance_cancel(*, tenant: Tenant, instance_id) -> WorkflowInstance:
    """Cancel an active instance: pending work and bookmarks are dropped; children too."""
    instance = _locked_instance(tenant, instance_id)
    if instance.status not in InstanceStatus.active():
        raise Conflict(f"Instance is {instance.status}; only active instances can be cancelled.",
                       code="invalid_transition")
    plan = plan_for(definition_pk=instance.definition_version_id,
                    body=instance.definition_version.body)
    recorder = RunRecorder(instance)
    recorder.add(engine.cancel(plan, instance.state, now=timezone.now()))
    instance.state["status"] = InstanceStatus.CANCELLED
    Bookmark.objects.filter(instance=instance).delete()
    recorder.flush(now=timezone.now())
    for child_id in instance.children.filter(status__in=InstanceStatus.active()).values_list(
        "id", flat=True
    ):
        instance_cancel(tenant=tenant, instance_id=child_id)
    return instance


@transaction.atomic
def instance_delete(*, tenant: Tenant, instance_id) -> None:
    instance = _locked_instance(tenant, instance_id)
    if instance.status in InstanceStatus.active():
        raise Conflict("Cancel the instance before deleting it.", code="instance_active")
    instance.delete()
