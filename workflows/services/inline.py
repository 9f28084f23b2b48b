"""Synchronous execution: `POST definitions/{id}/execute/` (and HTTP endpoints, `hooks`) run the
workflow here, within a step and time budget; task activities and children run here and now,
and what is left when the budget runs out is handed to the workers as steps.

`InlineRunner` is `apply.ResultApplier` with tasks, children and continuation done in place;
the records and steps it leaves are written by the same `finish`.
"""

import structlog
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from runtime import engine
from runtime.activities import default_registry
from runtime.engine import TaskRequest, execute_task, should_retry
from workflows.models import Bookmark, InstanceStatus, StepKind, Tenant, WorkflowInstance
from workflows.selectors.definitions import definition_get_published
from workflows.services.apply import Budget, ResultApplier, error_of
from workflows.services.failures import log_activity_failure
from workflows.services.instances import instance_create
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


@transaction.atomic
def instance_execute(*, tenant: Tenant, definition_id: str, input=None,
                     correlation_id: str | None = None) -> WorkflowInstance:
    """Start the published version and run it until finished, suspended, faulted, or out of
    budget (then the workers continue it)."""
    published = definition_get_published(tenant=tenant, definition_id=definition_id)
    instance, plan = instance_create(tenant=tenant, published=published, raw_input=input,
                                     correlation_id=correlation_id)
    structlog.contextvars.bind_contextvars(instance_id=str(instance.id),
                                           definition_id=definition_id)
    runner = InlineRunner(instance, plan)
    runner.drive(engine.advance(plan, instance.state, now=timezone.now(),
                            max_steps=min(runner.budget.max_steps, 1000)))
    return runner.finish()
