"""Applying what the engine decided for one locked instance: its records, its new steps (task
activities, continuation, children started, parents and event waiters woken), in the caller's
transaction, published after commit.

`ResultApplier` is the workers' way: every task activity becomes a TASK step, a child a new
instance with an ADVANCE step, and running out of the burst budget an ADVANCE step. The
synchronous way (`execute/`, hooks) is `services.inline.InlineRunner`, which executes tasks and
children here and now and hands the rest over through the same `finish`.

Either way the records of a call are written by `ResultRecorder` in a fixed number of bulk
statements, and new steps (plus the step just completed) in one upsert. The caller holds the
instance row lock (`instances.instance_lock`); the bookmarks and steps written here belong to
that instance (or to a parent or child, which are new rows or claimed by a DELETE).
"""

import time
from dataclasses import dataclass
from datetime import timedelta

import structlog
from django.conf import settings
from django.db import connection
from django.utils import timezone

from runtime import engine
from runtime.engine import TaskRequest
from workflows.errors import InvalidInput
from workflows.models import (
    ActivityExecution,
    Bookmark,
    InstanceStatus,
    Step,
    StepKind,
    StepStatus,
    WorkflowInstance,
)
from workflows.plans import plan_for_instance
from workflows.selectors.definitions import definition_get_published
from workflows.services.bookmarks import bookmarks_claim_for_event, retained_event_claim
from workflows.services.failures import traceback_of
from workflows.services.instances import instance_create
from workflows.services.outbox import (
    STEP_UPSERT_FIELDS,
    new_step,
    queue_of,
    steps_publish_on_commit,
)
from workflows.services.records import EXECUTION_UPDATE_FIELDS, ResultRecorder
from workflows.services.writes import Statement, from_row, row_fields, select_list

logger = structlog.get_logger(__name__)

MAX_CHILD_DEPTH = 16
# A burst advances the engine this many activity executions at a time, checking its time
# budget in between (the engine never reads the clock).
BURST_CHUNK_STEPS = 100


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
    def burst(cls, *, lease_until=None) -> "Budget":
        """A worker's burst: WEFT_BURST_*, and at most half of what is left of the step's
        lease, so that the instance lock is released (and the step done) before another
        worker may take the step over."""
        deadline = time.monotonic() + settings.WEFT_BURST_TIME_BUDGET
        if lease_until is not None:
            left = (lease_until - timezone.now()).total_seconds()
            deadline = min(deadline, time.monotonic() + max(0.0, left) / 2)
        return cls(max_steps=settings.WEFT_BURST_MAX_STEPS, deadline=deadline)

    def next_chunk(self) -> int:
        return min(self.remaining_steps(), BURST_CHUNK_STEPS)

    def remaining_steps(self) -> int:
        return max(1, self.max_steps - self.steps)

    def exhausted(self) -> bool:
        return self.steps >= self.max_steps or time.monotonic() >= self.deadline


class NotAtOnce(Exception):
    """The engine asked for something the hot path does not write (a child, an event, an HTTP
    answer): the caller goes the locked way instead (nothing was written)."""


# What the hot path reads of an instance (with the claim, or back from its write): all but the
# input, which is only shown (deferred: read on first access).
INSTANCE_FIELDS = row_fields(WorkflowInstance, exclude=("input",))
# The row's version: the transaction that wrote it (`xmin`) and where (`ctid`). Every UPDATE
# changes the pair: another transaction's writes a different xmin, the same transaction's a
# different ctid (the tuple it replaced cannot be reused while that transaction runs). A row
# lock alone changes neither.
ROW_VERSION = "i.xmin::text || '/' || i.ctid::text"
INSTANCE_COLUMNS = select_list(INSTANCE_FIELDS, "i") + f", {ROW_VERSION}"
# Columns the engine's state may change, beyond `state` and `updated_at`.
_DERIVED = ("status", "output", "variables", "correlation_id", "finished_at")


def _execution_upsert() -> str:
    """`ON CONFLICT` on the execution records' unique key (whatever columns the model's
    constraint names), updating what `bulk_create` would (`EXECUTION_UPDATE_FIELDS`)."""
    [unique] = [c for c in ActivityExecution._meta.constraints
                if c.name == "execution_unique_key"]
    columns = ", ".join(ActivityExecution._meta.get_field(name).column for name in unique.fields)
    updates = ", ".join(f"{name} = EXCLUDED.{name}" for name in EXECUTION_UPDATE_FIELDS)
    return f"ON CONFLICT ({columns}) DO UPDATE SET {updates}"


_EXECUTION_UPSERT = _execution_upsert()


def instance_from_row(values) -> WorkflowInstance:
    """An instance read with `INSTANCE_COLUMNS`, with its row's version (`row_version`)."""
    instance = from_row(WorkflowInstance, INSTANCE_FIELDS, values[:-1])
    instance.row_version = values[-1]
    instance.as_read = {name: getattr(instance, name) for name in _DERIVED}
    return instance


def error_of(exc: BaseException, attempt: int) -> dict:
    error = {"message": str(exc) or type(exc).__name__, "type": type(exc).__name__,
             "attempt": attempt}
    traceback_text = traceback_of(exc)
    if traceback_text:
        error["traceback"] = traceback_text
    return error


class ResultApplier:
    """Collects engine results for one locked instance; `finish` writes them."""

    def __init__(self, instance: WorkflowInstance, plan, *, budget: Budget | None = None,
                 depth: int = 0, parent_handles_completion: bool = False,
                 at_once: bool = False) -> None:
        self.instance = instance
        # The hot path (`write_at_once`): effects raise NotAtOnce instead of being applied.
        self.at_once = at_once
        self.plan = plan
        self.budget = budget or self.default_budget()
        self.depth = depth
        self.parent_handles_completion = parent_handles_completion
        self.recorder = ResultRecorder(instance)
        self.steps: list[Step] = []
        self.cancelled_task_keys: set[str] = set()
        self.events: list[dict] = []
        self.last = None
        self.claimed_next: Step | None = None

    @staticmethod
    def default_budget() -> Budget:
        return Budget.burst()

    # ---- applying engine results -----------------------------------------------------------

    def apply_burst(self, result) -> None:
        """Apply `result`, then advance on in chunks while the engine paused only because its
        chunk ran out and the budget (steps, time) lasts. Out of budget, the rest is handed
        over as an ADVANCE step (`budget_exhausted`)."""
        while result.status == "budget_exhausted":
            self.apply(result, paused=True)
            if self.budget.exhausted():
                self.budget_exhausted()
                return
            result = engine.advance(self.plan, self.instance.state, now=timezone.now(),
                                    max_steps=self.budget.next_chunk())
        self.apply(result)

    def apply(self, result, *, paused: bool = False) -> None:
        """Record one engine result. `paused`: the engine stopped for its step limit and the
        caller goes on with it, so no ADVANCE step is scheduled for that."""
        self.last = result
        self.recorder.add(result)
        self.budget.steps += result.steps
        cancelled = set(result.cancelled_tasks)
        if cancelled:
            self.cancel_tasks(cancelled)
            self.cancelled_task_keys |= cancelled
        for task in result.tasks:
            self.schedule_task(task)
        for effect in result.effects:
            self._effect(effect)
        if result.status == "budget_exhausted" and not paused:
            self.budget_exhausted()

    def cancel_tasks(self, keys: set[str]) -> None:
        self.steps = [s for s in self.steps if s.task_key not in keys]

    def schedule_task(self, task: TaskRequest) -> None:
        self.steps.append(self.task_step(task))

    def budget_exhausted(self) -> None:
        self.steps.append(new_step(self.instance, StepKind.ADVANCE, queue=queue_of(self.plan)))

    def task_step(self, task: TaskRequest, *, attempt: int = 1, run_after=None) -> Step:
        return new_step(self.instance, StepKind.TASK, queue=task.queue or queue_of(self.plan),
                        payload=task.as_dict(), task_key=task.key, attempt=attempt,
                        run_after=run_after)

    # ---- effects ---------------------------------------------------------------------------

    def _effect(self, effect: dict) -> None:
        if self.at_once:
            raise NotAtOnce(effect["type"])
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
            raw_input=effect.get("input") or {},
            correlation_id=effect.get("correlation_id") or self.instance.correlation_id,
            parent=self.instance, parent_bookmark_key=bookmark_key,
        )
        self.start_child(child, child_plan, bookmark_key)

    def start_child(self, child: WorkflowInstance, child_plan, bookmark_key: str | None) -> None:
        """The workers run the child from its first step."""
        self.steps.append(new_step(child, StepKind.ADVANCE, queue=queue_of(child_plan)))

    # ---- finishing -------------------------------------------------------------------------

    def finish(self, *, completed_step: Step | None = None, step_error=None,
               claim_next_for: str | None = None) -> WorkflowInstance:
        """Persist everything: records, steps (with the completed one), completion of a child
        towards its parent, events towards their waiters. Call inside the transaction.

        With `claim_next_for` (a worker's claimer id), one due step of this instance is written as
        already claimed by that worker instead of being published (`self.claimed_next`): the worker
        runs it next, saving a broker round trip; should it die, the lease runs out and the
        sweeper hands the step to another worker."""
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
        self.claimed_next = self._claim_next(claim_next_for, now) if claim_next_for else None
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
                                 if s.published_at is not None and s is not self.claimed_next])
        return instance

    def can_write_at_once(self) -> bool:
        """Nothing to write but the instance row, its records, timers and steps
        (`ResultRecorder.is_simple`): no tasks cancelled, and no parent to wake."""
        ended = self.instance.state.get("status") in (
            InstanceStatus.FINISHED, InstanceStatus.FAULTED, InstanceStatus.CANCELLED)
        return self.recorder.is_simple() and not self.cancelled_task_keys and \
            not self.events and not (ended and self.instance.parent_id)

    def write_at_once(self, *, completed_step: Step, step_error=None,
                      claim_next_for: str | None = None) -> bool:
        """The hot path's `finish`, for an instance read without its row lock (with the step's
        claim, or back from the previous step's write): one statement updates the instance row
        only if it is the version read (`row_version`) and still active and unheld, and, only
        then, inserts the journal entries, execution records, timers and new steps, deletes the
        bookmarks the engine let go and marks the completed step done. The row lock the UPDATE
        takes orders it with every locked transition, as `instance_lock` would; a row that
        changed since it was read (another step's result, a suspend, a cancel) makes it write
        nothing and return False: the caller goes the locked way, from the current row. Only
        when `can_write_at_once()`; outside a transaction the statement is its own."""
        now = timezone.now()
        instance = self.instance
        recorder = self.recorder
        executions = list(recorder.executions.values())
        status_before = recorder.prepare(now=now)
        fields = [WorkflowInstance._meta.get_field(name) for name in ("state", "updated_at")]
        fields += [WorkflowInstance._meta.get_field(name) for name in _DERIVED
                   if getattr(instance, name) != instance.as_read[name]]
        statement = Statement()
        statement.add(
            "i",
            "UPDATE workflows_workflowinstance AS i SET "  # noqa: S608 (names from the model)
            + ", ".join(f"{connection.ops.quote_name(f.column)} = %s" for f in fields)
            + f" WHERE i.id = %s AND {ROW_VERSION} = %s AND NOT i.held"
              " AND i.status IN ('pending', 'running', 'suspended')"
            # Continuing, the next step starts from the row as stored (as a reload would).
            + f" RETURNING {INSTANCE_COLUMNS if claim_next_for else ROW_VERSION}",
            # As `save()` prepares them: `pre_save` (which names the row to a field that wants
            # to know it, and sets `updated_at`), then `get_db_prep_save`.
            [f.get_db_prep_save(f.pre_save(instance, False), connection) for f in fields]
            + [instance.id, instance.row_version])
        if recorder.journal:
            statement.insert("j", recorder.journal_rows(), guard="i")
        if executions:
            statement.insert("e", recorder.execution_rows(), guard="i",
                             on_conflict=_EXECUTION_UPSERT)
        if recorder.removed_bookmarks:
            # Claimed by whoever deletes it first, as in `records.flush` (an event or a timer
            # may be deleting the same row: one DELETE wins, the other finds nothing).
            statement.add("b", "DELETE FROM workflows_bookmark AS b USING i WHERE "
                               "b.instance_id = i.id AND b.key = ANY(%s) RETURNING 1",
                          [sorted(recorder.removed_bookmarks)])
        if recorder.bookmarks:
            statement.insert("k", recorder.bookmark_rows(), guard="i")
        self.claimed_next = self._claim_next(claim_next_for, now) if claim_next_for else None
        if self.steps:
            statement.insert("s", self.steps, guard="i")
        error_field = Step._meta.get_field("error")
        statement.add(
            "d", "UPDATE workflows_step SET status = 'done', finished_at = %s, error = %s, "
                 "lease_until = NULL FROM i WHERE workflows_step.id = %s RETURNING 1",
            [now, error_field.get_db_prep_save(step_error, connection), completed_step.pk])
        rows = statement.execute("SELECT * FROM i")
        if not rows:
            self.claimed_next = None
            return False
        completed_step.status = StepStatus.DONE
        completed_step.finished_at = now
        completed_step.error = step_error
        completed_step.lease_until = None
        if claim_next_for:
            self.instance = instance_from_row(rows[0])
            recorder.instance = self.instance
        recorder.written(status_before)
        if self.claimed_next is not None:
            self.claimed_next.instance_read = self.instance
        steps_publish_on_commit([s for s in self.steps
                                 if s.published_at is not None and s is not self.claimed_next])
        return True

    def _claim_next(self, claimer: str, now) -> Step | None:
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
    steps = []
    for bookmark in Bookmark.objects.filter(instance=instance, key__in=keys).select_related(
            "instance"):
        step = retained_event_claim(bookmark)
        if step is not None:
            steps.append(step)
    return steps


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
