"""Synchronous execution: `POST definitions/{id}/execute/` (and HTTP endpoints, `hooks`) run the
workflow here, within a step and time budget; task activities and children run here and now,
and what is left when the budget runs out is handed to the workers as steps.

`InlineRunner` is `apply.ResultApplier` with tasks, children and continuation done in place;
the records and steps it leaves are written by the same `finish`.
"""

import uuid
from datetime import timedelta

import structlog
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from runtime import engine
from runtime.activities import default_registry
from runtime.engine import TaskRequest, execute_task, should_retry
from workflows.models import (
    Bookmark,
    InstanceStatus,
    Step,
    StepKind,
    StepStatus,
    Tenant,
    WorkflowInstance,
)
from workflows.plans import plan_for
from workflows.selectors.definitions import PublishedDefinition, definition_get_published
from workflows.services.apply import Budget, ResultApplier, error_of
from workflows.services.failures import log_activity_failure
from workflows.services.instances import activation_of, instance_create, instance_lock
from workflows.services.outbox import new_step, queue_of

logger = structlog.get_logger(__name__)


class InlineRunner(ResultApplier):
    def __init__(self, instance: WorkflowInstance, plan, **kwargs) -> None:
        super().__init__(instance, plan, **kwargs)
        self.inline_tasks: list[TaskRequest] = []

    @staticmethod
    def default_budget() -> Budget:
        return Budget.synchronous()

    def cancel_tasks(self, keys: set[str]) -> None:
        self.inline_tasks = [t for t in self.inline_tasks if t.key not in keys]
        super().cancel_tasks(keys)

    def schedule_task(self, task: TaskRequest) -> None:
        self.inline_tasks.append(task)

    def budget_exhausted(self) -> None:
        """`drive` goes on with the engine while the budget lasts, and hands over after."""

    def drive(self, result) -> None:
        """Keep going (tasks here and now) until terminal, waiting, or out of budget; then
        hand what is left to the workers."""
        self.apply(result)
        while not self.last.is_terminal:
            if self.budget.exhausted():
                self._hand_over()
                return
            if self.inline_tasks:
                self.apply(self._run_task_inline(self.inline_tasks.pop(0)))
            elif self.last.status == "budget_exhausted":
                self.apply(engine.advance(self.plan, self.instance.state, now=timezone.now(),
                                      max_steps=min(self.budget.remaining_steps(), 1000)))
            else:
                return

    def _hand_over(self) -> None:
        for task in self.inline_tasks:
            self.steps.append(self.task_step(task))
        self.inline_tasks = []
        if self.instance.state.get("queue"):
            self.steps.append(new_step(self.instance, StepKind.ADVANCE, queue=queue_of(self.plan)))
        self.recorder.journal_note(
            f"Synchronous execution handed over to the workers after {self.budget.steps} "
            "activity executions (budget reached).", {"code": "handed_over"})

    def _run_task_inline(self, request: TaskRequest):
        """Runs a task here, retrying at once up to its policy (no sleeping in a request)."""
        attempt = request.attempt
        while True:
            try:
                output = execute_task(
                    default_registry(), request,
                    request.context(step_id=request.key, attempt=attempt),
                    http_allowed_hosts=settings.WEFT_HTTP_ALLOWED_HOSTS,
                )
            except Exception as exc:
                will_retry = should_retry(request.retry, attempt, exc)
                log_activity_failure(logger, request=request, attempt=attempt, exc=exc,
                                     will_retry=will_retry)
                if will_retry:
                    attempt += 1
                    continue
                return engine.fail_task(self.plan, self.instance.state, task_key=request.key,
                                        now=timezone.now(), error=error_of(exc, attempt))
            return engine.complete_task(self.plan, self.instance.state, task_key=request.key,
                                        output=output, now=timezone.now(), attempt=attempt)

    def start_child(self, child: WorkflowInstance, child_plan, bookmark_key: str | None) -> None:
        """The child runs here, on the same budget; a waiting parent goes on at once when the
        child ended within it."""
        child_runner = InlineRunner(child, child_plan, budget=self.budget,
                                    depth=self.depth + 1, parent_handles_completion=True)
        child_runner.drive(engine.advance(child_plan, child.state, now=timezone.now(),
                                      max_steps=min(self.budget.remaining_steps(), 1000)))
        child_runner.finish()
        if bookmark_key and child.status in (InstanceStatus.FINISHED, InstanceStatus.FAULTED):
            self.recorder.bookmarks.pop(bookmark_key, None)
            Bookmark.objects.filter(instance=self.instance, key=bookmark_key).delete()
            self.apply(child_outcome(self.plan, self.instance, child, bookmark_key))
        elif bookmark_key:
            # The child waits (or ran out of budget); it will resume us from a worker.
            child.parent_bookmark_key = bookmark_key


def child_outcome(plan, parent: WorkflowInstance, child: WorkflowInstance, bookmark_key: str):
    """The engine call that tells a waiting parent how its child ended."""
    if child.status == InstanceStatus.FINISHED:
        return engine.resume_bookmark(plan, parent.state, bookmark_key=bookmark_key,
                                      payload=child.output, now=timezone.now(), max_steps=1000)
    return engine.fail_task(plan, parent.state, task_key=bookmark_key, now=timezone.now(),
                            error={"message": f"child workflow {child.definition_id} "
                                              f"({child.id}) {child.status}",
                                   "type": "ChildFailed", "child_id": str(child.id)})


def instance_execute(*, tenant: Tenant, definition_id: str, input=None,
                     correlation_id: str | None = None) -> WorkflowInstance:
    """Start the published version and run it until finished, suspended, faulted, or out of
    budget (then the workers continue it)."""
    published = definition_get_published(tenant=tenant, definition_id=definition_id)
    return instance_start_inline(tenant=tenant, published=published, raw_input=input,
                                 correlation_id=correlation_id)


def instance_start_inline(*, tenant: Tenant, published: PublishedDefinition, raw_input,
                          correlation_id: str | None, trigger: dict | None = None,
                          deadline: float | None = None) -> WorkflowInstance:
    """Create an instance and run it here (`execute/`, HTTP-endpoint triggers).

    An `always` definition takes no start lock: the instance is created and run in one
    transaction. A singleton's start lock must not be held through the run (user activities,
    HTTP calls), so its instance is committed first, with its first step claimed by this
    request (should the process die, the lease runs out and a worker carries on), and the run
    happens in a second transaction under the instance row lock. Should the run fail with an
    error, the untouched instance is removed again, so the caller sees what it saw before: an
    error and no instance."""
    if activation_of(plan_of(published)) == "always":
        with transaction.atomic():
            instance, plan = instance_create(tenant=tenant, published=published,
                                             raw_input=raw_input, correlation_id=correlation_id,
                                             trigger=trigger)
            return _run_new(instance, plan, deadline=deadline)
    claimer = f"inline:{uuid.uuid4()}"
    with transaction.atomic():
        instance, plan = instance_create(tenant=tenant, published=published, raw_input=raw_input,
                                         correlation_id=correlation_id, trigger=trigger)
        first = _claimed_first_step(instance, plan, claimer)
    try:
        with transaction.atomic():
            instance = instance_lock(tenant, instance.id)
            if instance.held or instance.status not in InstanceStatus.active():
                # An operator got to it between the two transactions: a held instance's first
                # step waits for its release; a cancelled one's is dropped.
                Step.objects.filter(pk=first.pk).update(
                    status=StepStatus.PENDING if instance.held else StepStatus.CANCELLED,
                    claimed_by=None, lease_until=None)
                return instance
            return _run_new(instance, plan, deadline=deadline, completed_step=first)
    except Exception:
        _forget_unstarted(instance.id, first.id, claimer)
        raise


def plan_of(published: PublishedDefinition):
    return plan_for(definition_pk=published.pk, body=published.body)


def _claimed_first_step(instance: WorkflowInstance, plan, claimer: str) -> Step:
    step = new_step(instance, StepKind.ADVANCE, queue=queue_of(plan))
    now = timezone.now()
    step.status = StepStatus.RUNNING
    step.claimed_by = claimer
    step.deliveries = 1
    step.started_at = now
    step.published_at = None
    step.publish_count = 0
    step.lease_until = now + timedelta(seconds=settings.WEFT_STEP_LEASE_SECONDS)
    step.save(force_insert=True)
    return step


def _run_new(instance: WorkflowInstance, plan, *, deadline: float | None,
             completed_step: Step | None = None) -> WorkflowInstance:
    structlog.contextvars.bind_contextvars(instance_id=str(instance.id),
                                           definition_id=instance.definition_id)
    runner = InlineRunner(instance, plan)
    if deadline is not None:
        runner.budget.deadline = min(runner.budget.deadline, deadline)
    runner.drive(engine.advance(plan, instance.state, now=timezone.now(),
                                max_steps=min(runner.budget.max_steps, 1000)))
    return runner.finish(completed_step=completed_step)


def _forget_unstarted(instance_id, step_id, claimer: str) -> None:
    """Remove an instance whose synchronous run failed before anything of it was kept (its
    first step is still ours); if that fails too, the lease runs out and a worker runs it."""
    try:
        with transaction.atomic():
            if Step.objects.filter(pk=step_id, claimed_by=claimer,
                                   status=StepStatus.RUNNING).exists():
                WorkflowInstance.objects.filter(pk=instance_id).delete()
    except Exception as exc:
        structlog.get_logger(__name__).warning("unstarted_instance_kept", error=str(exc),
                                               instance_id=str(instance_id))
