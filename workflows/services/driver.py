"""Applies what the engine decided for one locked instance.

Two modes share this code:
- inline (the synchronous `execute/`): task activities and children run here and now, within
  a step and time budget; what is left when the budget runs out is handed to the workers as
  steps;
- steps (workers): every task activity becomes a TASK step, a child a new instance with a RUN
  step, and running out of the burst budget a RUN step; all written in the caller's
  transaction and published after commit.

Either way the records of a call are written by `RunRecorder` in a fixed number of bulk
statements, and new steps (plus the step just completed) in one upsert.
"""

import random
import time
from dataclasses import dataclass
from datetime import timedelta

import structlog
from django.conf import settings
from django.utils import timezone

from runtime import engine
from runtime.engine import TaskRequest, execute_task, should_retry
from workflows.errors import InvalidInput
from workflows.models import (
    Bookmark,
    InstanceStatus,
    Step,
    StepKind,
    StepStatus,
    WorkflowInstance,
)
from workflows.plans import plan_for_instance
from workflows.services.failures import log_activity_failure
from workflows.services.run_recorder import RunRecorder

logger = structlog.get_logger(__name__)

MAX_CHILD_DEPTH = 16
STEP_UPSERT_FIELDS = ["status", "finished_at", "error", "lease_until"]


@dataclass
class Budget:
    """How much work one call may do (shared with the children it runs inline)."""

    max_steps: int
    deadline: float
    steps: int = 0

    @classmethod
    def synchronous(cls) -> "Budget":
        return cls(max_steps=settings.WEFT_SYNC_MAX_STEPS,
                   deadline=time.monotonic() + settings.WEFT_SYNC_TIME_BUDGET)

    @classmethod
    def burst(cls) -> "Budget":
        return cls(max_steps=settings.WEFT_BURST_MAX_STEPS,
                   deadline=time.monotonic() + settings.WEFT_BURST_TIME_BUDGET)

    def remaining_steps(self) -> int:
        return max(1, self.max_steps - self.steps)

    def exhausted(self) -> bool:
        return self.steps >= self.max_steps or time.monotonic() >= self.deadline


def new_step(instance: WorkflowInstance, kind: str, *, queue: str, payload: dict | None = None,
             task_key: str | None = None, attempt: int = 1, run_after=None) -> Step:
    now = timezone.now()
    run_after = run_after or now
    return Step(
        tenant_id=instance.tenant_id, instance_id=instance.id, kind=kind, queue=queue,
        payload=payload or {}, task_key=task_key, attempt=attempt, run_after=run_after,
        # Due steps are published right after commit; the sweeper publishes the others.
        published_at=now if run_after <= now else None,
        publish_count=1 if run_after <= now else 0,
    )


def queue_of(plan) -> str:
    return plan.options.get("queue") or "default"


class InstanceDriver:
    def __init__(self, instance: WorkflowInstance, plan, *, inline: bool,
                 budget: Budget | None = None, depth: int = 0,
                 parent_handles_completion: bool = False) -> None:
        self.instance = instance
        self.plan = plan
        self.inline = inline
        self.budget = budget or (Budget.synchronous() if inline else Budget.burst())
        self.depth = depth
        self.parent_handles_completion = parent_handles_completion
        self.recorder = RunRecorder(instance)
        self.steps: list[Step] = []
        self.inline_tasks: list[TaskRequest] = []
        self.cancelled_task_keys: set[str] = set()
        self.events: list[dict] = []
        self.last = None
        self.kept: Step | None = None

    # ---- applying engine results -----------------------------------------------------------

    def apply(self, result) -> None:
        self.last = result
        self.recorder.add(result)
        self.budget.steps += result.steps
        cancelled = set(result.cancelled_tasks)
        if cancelled:
            self.inline_tasks = [t for t in self.inline_tasks if t.key not in cancelled]
            self.steps = [s for s in self.steps if s.task_key not in cancelled]
            self.cancelled_task_keys |= cancelled
        for task in result.tasks:
            if self.inline:
                self.inline_tasks.append(task)
            else:
                self.steps.append(self._task_step(task))
        for effect in result.effects:
            self._effect(effect)
        if result.status == "budget_exhausted" and not self.inline:
            self.steps.append(new_step(self.instance, StepKind.RUN, queue=queue_of(self.plan)))

    def _task_step(self, task: TaskRequest, *, attempt: int = 1, run_after=None) -> Step:
        return new_step(self.instance, StepKind.TASK, queue=task.queue or queue_of(self.plan),
                        payload=task.as_dict(), task_key=task.key, attempt=attempt,
                        run_after=run_after)

    def drive(self, result) -> None:
        """Inline mode: keep going (tasks here and now) until terminal, waiting, or out of
        budget; then hand what is left to the workers."""
        self.apply(result)
        while not self.last.is_terminal:
            if self.budget.exhausted():
                self._hand_over()
                return
            if self.inline_tasks:
                self.apply(self._run_task_inline(self.inline_tasks.pop(0)))
            elif self.last.status == "budget_exhausted":
                self.apply(engine.run(self.plan, self.instance.state, now=timezone.now(),
                                      max_steps=min(self.budget.remaining_steps(), 1000)))
            else:
                return

    def _hand_over(self) -> None:
        for task in self.inline_tasks:
            self.steps.append(self._task_step(task))
        self.inline_tasks = []
        if self.instance.state.get("queue"):
            self.steps.append(new_step(self.instance, StepKind.RUN, queue=queue_of(self.plan)))
        self.recorder.journal_note(
            f"Synchronous execution handed over to the workers after {self.budget.steps} "
            "activity executions (budget reached).", {"code": "handed_over"})

    def _run_task_inline(self, request: TaskRequest):
        """Runs a task here, retrying at once up to its policy (no sleeping in a request)."""
        attempt = request.attempt
        while True:
            try:
                output = execute_task(
                    engine.default_registry(), request,
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

    # ---- effects ---------------------------------------------------------------------------

    def _effect(self, effect: dict) -> None:
        kind = effect["type"]
        if kind == "publish_event":
            self.events.append(effect)
        elif kind == "start_child":
            self._start_child(effect)
        elif kind == "http_response" and self.instance.http_response is None:
            # The first answer wins, as for a real HTTP exchange.
            self.instance.http_response = {key: effect.get(key)
                                            for key in ("status", "headers", "body")}

    def _start_child(self, effect: dict) -> None:
        from workflows.selectors.definitions import definition_get_published
        from workflows.services.instances import instance_create

        if self.depth >= MAX_CHILD_DEPTH:
            raise InvalidInput(f"Child workflows nest deeper than {MAX_CHILD_DEPTH} levels.",
                               code="child_depth_exceeded")
        bookmark_key = effect.get("bookmark_key") if effect.get("wait") else None
        published = definition_get_published(tenant=self.instance.tenant,
                                             definition_id=effect["definition_id"])
        # The parent row must be current before a child points at it.
        self.recorder.flush(now=timezone.now())
        child, child_plan = instance_create(
            tenant=self.instance.tenant, published=published,
            raw_input=effect.get("input") or {}, correlation_id=self.instance.correlation_id,
            parent=self.instance, parent_bookmark_key=bookmark_key,
        )
        if not self.inline:
            self.steps.append(new_step(child, StepKind.RUN, queue=queue_of(child_plan)))
            return
        child_driver = InstanceDriver(child, child_plan, inline=True, budget=self.budget,
                                      depth=self.depth + 1, parent_handles_completion=True)
        child_driver.drive(engine.run(child_plan, child.state, now=timezone.now(),
                                      max_steps=min(self.budget.remaining_steps(), 1000)))
        child_driver.finish()
        if bookmark_key and child.status in (InstanceStatus.FINISHED, InstanceStatus.FAULTED):
            self.recorder.bookmarks.pop(bookmark_key, None)
            Bookmark.objects.filter(instance=self.instance, key=bookmark_key).delete()
            self.apply(child_outcome(self.plan, self.instance, child, bookmark_key))
        elif bookmark_key:
            # The child waits (or ran out of budget); it will resume us from a worker.
            child.parent_bookmark_key = bookmark_key

    # ---- finishing -------------------------------------------------------------------------

    def finish(self, *, completed_step: Step | None = None, step_error=None,
               keep_for: str | None = None) -> WorkflowInstance:
        """Persist everything: records, steps (with the completed one), completion of a child
        towards its parent, events towards their waiters. Call inside the transaction.

        With `keep_for` (a worker's claimer id), one due step of this instance is written as
        already claimed by that worker instead of being published (`self.kept`): the worker
        runs it next, saving a broker round trip; should it die, the lease runs out and the
        sweeper hands the step to another worker."""
        from workflows.services.events import bookmarks_claim_for_event
        from workflows.services.steps import steps_publish_on_commit

        now = timezone.now()
        new_event_waits = [b["key"] for b in self.recorder.bookmarks.values()
                           if b.get("kind") == "event"]
        instance = self.recorder.flush(now=now)
        if new_event_waits:
            self.steps += _retained_events_for(instance, new_event_waits)
        # Steps left pending for an instance that has ended are discarded when they run; only
        # tasks the engine disowned are cancelled here, so that no worker starts them.
        if instance.status in (InstanceStatus.FINISHED, InstanceStatus.FAULTED,
                               InstanceStatus.CANCELLED) and instance.parent_id and \
                instance.parent_bookmark_key and not self.parent_handles_completion:
            self.steps += notify_parent(instance)
        if self.cancelled_task_keys:
            Step.objects.filter(instance=instance, task_key__in=self.cancelled_task_keys,
                                status=StepStatus.PENDING).update(status=StepStatus.CANCELLED,
                                                                  finished_at=now)
        for event in self.events:
            self.steps += bookmarks_claim_for_event(
                tenant=instance.tenant, name=event["event"], payload=event.get("payload"),
                correlation_id=event.get("correlation_id"))[1]
        self.kept = self._keep_one(keep_for, now) if keep_for else None
        rows = list(self.steps)
        if completed_step is not None:
            completed_step.status = StepStatus.DONE
            completed_step.finished_at = now
            completed_step.error = step_error
            completed_step.lease_until = None
            rows.append(completed_step)
        if rows:
            # One statement: inserts the new steps and marks the completed one done.
            Step.objects.bulk_create(rows, update_conflicts=True, unique_fields=["id"],
                                     update_fields=STEP_UPSERT_FIELDS)
        steps_publish_on_commit([s for s in self.steps
                                 if s.published_at is not None and s is not self.kept])
        return instance

    def _keep_one(self, claimer: str, now) -> Step | None:
        """The next step of a sequence. When the instance goes on with several steps at once
        (a fork's branches), all are published so that idle workers take them in parallel."""
        due = [s for s in self.steps if s.instance_id == self.instance.id
               and s.run_after <= now and s.kind != StepKind.FAIL]
        step = due[0] if len(due) == 1 else None
        if step is not None:
            step.status = StepStatus.RUNNING
            step.claimed_by = claimer
            step.deliveries = 1
            step.started_at = now
            step.published_at = None
            step.publish_count = 0
            step.lease_until = now + timedelta(seconds=settings.WEFT_STEP_LEASE_SECONDS)
        return step


def _retained_events_for(instance: WorkflowInstance, keys: list[str]) -> list[Step]:
    from workflows.services.events import retained_event_claim

    steps = []
    for bookmark in Bookmark.objects.filter(instance=instance, key__in=keys).select_related(
            "instance"):
        step = retained_event_claim(bookmark)
        if step is not None:
            steps.append(step)
    return steps


def error_of(exc: BaseException, attempt: int) -> dict:
    from workflows.services.failures import traceback_of

    error = {"message": str(exc) or type(exc).__name__, "type": type(exc).__name__,
             "attempt": attempt}
    traceback_text = traceback_of(exc)
    if traceback_text:
        error["traceback"] = traceback_text
    return error


def child_outcome(plan, parent: WorkflowInstance, child: WorkflowInstance, bookmark_key: str):
    """The engine call that tells a waiting parent how its child ended."""
    if child.status == InstanceStatus.FINISHED:
        return engine.resume_bookmark(plan, parent.state, bookmark_key=bookmark_key,
                                      payload=child.output, now=timezone.now(), max_steps=1000)
    return engine.fail_task(plan, parent.state, task_key=bookmark_key, now=timezone.now(),
                            error={"message": f"child workflow {child.definition_id} "
                                              f"({child.id}) {child.status}",
                                   "type": "ChildFailed", "child_id": str(child.id)})


def notify_parent(child: WorkflowInstance) -> list[Step]:
    """A child that ended claims its parent's waiting bookmark and schedules the parent's
    resume. Claiming is a DELETE, so a child can wake its parent only once."""
    deleted, _ = Bookmark.objects.filter(instance_id=child.parent_id,
                                         key=child.parent_bookmark_key).delete()
    if not deleted:
        return []
    parent = WorkflowInstance.objects.only("id", "tenant_id").get(pk=child.parent_id)
    kind = StepKind.RESUME if child.status == InstanceStatus.FINISHED else StepKind.FAIL
    payload = {"bookmark_key": child.parent_bookmark_key, "payload": child.output,
               "child_id": str(child.id), "child_status": child.status}
    return [new_step(parent, kind, queue=queue_of(plan_for_instance(parent)), payload=payload)]


def retry_step(step: Step, instance_like, request: TaskRequest, exc: BaseException) -> Step:
    """The next attempt of a failed task: a new step due after the backoff."""
    delay = engine.retry_delay(request.retry, step.attempt, random.random())
    run_after = timezone.now() + timedelta(seconds=delay)
    retry = new_step(instance_like, StepKind.TASK, queue=step.queue, payload=step.payload,
                     task_key=step.task_key, attempt=step.attempt + 1, run_after=run_after)
    logger.info("task_retry_scheduled", step_id=str(step.id), attempt=step.attempt + 1,
                delay_seconds=round(delay, 3), error=str(exc))
    return retry

