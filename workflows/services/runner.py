"""The step runner: what a worker does with one message (`step_process`, called by the Celery task
`weft.run_step`).

It claims the step with one conditional UPDATE (pending, or running with an expired lease: its
worker died), so a duplicate or late message is acknowledged and skipped. Task activities run
outside any transaction or lock, with their lease kept alive by a small thread, and are
stopped at their timeout before any retry is written (`workflows.time_limits`);
a failure within the retry policy becomes a new step due after the backoff. Applying a result
(and the inline burst that follows) takes the instance row lock briefly, through
`apply.ResultApplier`. Lock order: the step row (claim), then the instance row.
"""

import os
import random
import threading
import time
import uuid
from datetime import timedelta

import structlog
from django.conf import settings
from django.db import connection, connections, transaction
from django.db.models import F
from django.db.models.functions import Greatest
from django.utils import timezone

from runtime import engine
from runtime.activities import default_registry
from runtime.engine import TaskRequest, execute_task, should_retry
from workflows import instruments, tracing
from workflows.models import InstanceStatus, Step, StepKind, StepStatus, WorkflowInstance
from workflows.plans import plan_for_instance
from workflows.services.apply import (
    INSTANCE_COLUMNS,
    Budget,
    NotAtOnce,
    ResultApplier,
    error_of,
    instance_from_row,
)
from workflows.services.failures import log_activity_failure
from workflows.services.instances import instance_lock
from workflows.services.outbox import new_step
from workflows.services.poison import PoisonStep, step_mark_dead
from workflows.services.workers import claimer_for, claimer_is_dead
from workflows.services.writes import from_row, row_fields, select_list
from workflows.time_limits import call_with_time_limit

logger = structlog.get_logger(__name__)


STEP_FIELDS = row_fields(Step)
# The claim alone. SQLite (`make run`) runs just this (no data-modifying CTE, no row version):
# every step there then goes the locked way.
_CLAIM_ONLY_SQL = """
UPDATE workflows_step SET status = 'running', deliveries = deliveries + 1, claimed_by = %s,
       lease_until = %s, started_at = COALESCE(started_at, %s)
 WHERE id = %s
   AND (status = 'pending' OR (status = 'running' AND (lease_until < %s OR claimed_by = %s)))
   AND NOT EXISTS (SELECT 1 FROM workflows_workflowinstance i
                    WHERE i.id = workflows_step.instance_id AND i.held)
RETURNING *
"""
# On PostgreSQL, the claim and the step's instance read in the same statement (no lock: the
# hot path's write checks that the row is still this version, `ResultApplier.write_at_once`).
_CLAIM_SQL = f"""
WITH c AS ({_CLAIM_ONLY_SQL})
SELECT {select_list(STEP_FIELDS, "c")}, {INSTANCE_COLUMNS}
  FROM c LEFT JOIN workflows_workflowinstance i ON i.id = c.instance_id
"""  # noqa: S608 (column names from the models)


def _claim(step_id, worker: str) -> Step | None:
    now = timezone.now()
    lease_until = now + timedelta(seconds=settings.WEFT_STEP_LEASE_SECONDS)
    ops = connection.ops
    pk = Step._meta.pk.get_db_prep_value(uuid.UUID(str(step_id)), connection)

    claimer = claimer_for(worker)

    def attempt(dead_claimer: str) -> Step | None:
        params = [claimer, ops.adapt_datetimefield_value(lease_until),
                  ops.adapt_datetimefield_value(now), pk, ops.adapt_datetimefield_value(now),
                  dead_claimer]
        if connection.vendor != "postgresql":
            claimed = list(Step.objects.raw(_CLAIM_ONLY_SQL, params))
            return claimed[0] if claimed else None
        with connection.cursor() as cursor:
            cursor.execute(_CLAIM_SQL, params)
            row = cursor.fetchone()
        if row is None:
            return None
        step = from_row(Step, STEP_FIELDS, row[:len(STEP_FIELDS)])
        instance_values = row[len(STEP_FIELDS):]
        step.instance_read = instance_from_row(instance_values) \
            if instance_values[0] is not None else None
        return step

    step = attempt("")
    if step is None:
        # Held by another claimer: take it at once only if the worker registry says that
        # claimer is gone (the UPDATE re-checks it still holds the step); else its lease runs.
        held = Step.objects.filter(pk=step_id, status=StepStatus.RUNNING).values_list(
            "claimed_by", "lease_until").first()
        if held and held[0] and claimer_is_dead(claimed_by=held[0], lease_until=held[1]):
            step = attempt(held[0])
    return step


def step_renew_lease(*, step_id, claimer: str):
    """Extend a running step's lease, only for the claimer that holds it: a step taken over
    meanwhile (its lease ran out) stays with its new owner. Returns the new end of the lease,
    or None when the step is no longer ours."""
    lease_until = timezone.now() + timedelta(seconds=settings.WEFT_STEP_LEASE_SECONDS)
    renewed = Step.objects.filter(pk=step_id, status=StepStatus.RUNNING,
                                  claimed_by=claimer).update(lease_until=lease_until)
    return lease_until if renewed else None


class _LeaseKeeper:
    """Extends a running task's lease while it runs. If the worker process dies, so does the
    renewing thread, the lease expires, and the sweeper hands the step to another worker.

    One thread per process renews the leases of every task running in it (`_Renewals`): a task
    registers on entering and leaves on exit, which costs no thread start and join per task
    (most tasks end long before their first renewal, lease/3)."""

    def __init__(self, step_id, claimer: str, lease_until) -> None:
        self.step_id = step_id
        self.claimer = claimer
        self.lease_until = lease_until  # the latest end of the lease this keeper set
        self.next_renewal = 0.0

    def __enter__(self):
        self.next_renewal = time.monotonic() + _renewal_interval()
        _renewals.add(self)
        return self

    def __exit__(self, *exc) -> None:
        _renewals.discard(self)

    def renew(self) -> bool:
        """One renewal; False when the lease is no longer this keeper's to renew."""
        try:
            renewed = step_renew_lease(step_id=self.step_id, claimer=self.claimer)
        except Exception as exc:  # losing the lease only risks a duplicate, never a loss
            logger.warning("lease_renewal_failed", step_id=str(self.step_id), error=str(exc))
            return False
        if renewed is None:
            logger.warning("lease_lost", step_id=str(self.step_id))
            return False
        self.lease_until = renewed
        self.next_renewal = time.monotonic() + _renewal_interval()
        return True


def _renewal_interval() -> float:
    return max(0.5, settings.WEFT_STEP_LEASE_SECONDS / 3)


class _Renewals:
    """The keepers of this process and the thread that renews their leases when due. The
    thread is started on first use in each process (a forked pool child starts its own)."""

    def __init__(self) -> None:
        self.keepers: set[_LeaseKeeper] = set()
        self.changed = threading.Condition()
        self.thread: threading.Thread | None = None
        self.pid = 0

    def add(self, keeper: _LeaseKeeper) -> None:
        with self.changed:
            self.keepers.add(keeper)
            if self.thread is None or self.pid != os.getpid() or not self.thread.is_alive():
                self.pid = os.getpid()
                self.thread = threading.Thread(target=self._run, daemon=True,
                                               name="weft-lease-renewals")
                self.thread.start()
            self.changed.notify()

    def discard(self, keeper: _LeaseKeeper) -> None:
        with self.changed:
            self.keepers.discard(keeper)

    def _run(self) -> None:
        while True:
            with self.changed:
                now = time.monotonic()
                due = [k for k in self.keepers if k.next_renewal <= now]
                if not due:
                    wait = min((k.next_renewal for k in self.keepers), default=now + 60) - now
                    self.changed.wait(timeout=max(0.01, wait))
                    continue
            for keeper in due:
                if not keeper.renew():
                    self.discard(keeper)
            connection.close()  # back to the pool until the next renewal


_renewals = _Renewals()


def step_process(*, step_id, worker: str = "inline") -> str:
    """Process one step, then (within a small budget) the next step it scheduled for the same
    instance, without a broker round trip. Returns what happened to the first step (for logs
    and tests). Every log line written meanwhile carries the step, instance, definition and
    correlation id."""
    step = _claim(step_id, worker)
    if step is None:
        if Step.objects.filter(pk=step_id, status=StepStatus.DEAD).exists():
            raise PoisonStep(step_id)
        instruments.step_processed(queue="unknown", outcome="skipped")
        return "skipped"
    first = None
    deadline = time.monotonic() + settings.WEFT_STEP_CONTINUE_SECONDS
    for count in range(settings.WEFT_STEP_CONTINUE_MAX + 1):
        context = {"step_id": str(step.id), "instance_id": str(step.instance_id)}
        if step.kind == StepKind.TASK:
            context.update(definition_id=step.payload.get("definition_id"),
                           correlation_id=step.payload.get("correlation_id"))
        may_continue = count < settings.WEFT_STEP_CONTINUE_MAX and time.monotonic() < deadline
        queue = step.queue
        with structlog.contextvars.bound_contextvars(**context), tracing.step_span(step):
            outcome, step = _process_claimed(step, claimer_for(worker) if may_continue else None,
                                             continued=count > 0)
        instruments.step_processed(queue=queue, outcome=outcome)
        first = first or outcome
        if step is None:
            break
    return first


def _process_claimed(step: Step, claim_next_for: str | None, *,
                     continued: bool = False) -> tuple[str, Step | None]:
    """Process a claimed step; returns (what happened, the next step claimed for this worker).

    `continued`: the step was claimed for this worker by the previous one (a continuation), not
    by `_claim`, so the hold check of the claim did not see an operator's suspend since."""
    log = logger.bind(kind=step.kind)
    if step.deliveries > settings.WEFT_STEP_MAX_DELIVERIES:
        step_mark_dead(step_id=step.id, reason=f"delivered {step.deliveries - 1} times "
                                               "without finishing")
        raise PoisonStep(step.id)
    outcome = None
    if step.kind == StepKind.TASK and continued and _held(step.instance_id):
        return _put_back(step, log), None
    if step.kind == StepKind.TASK:
        request = TaskRequest.from_dict(step.payload)
        log = log.bind(activity_id=request.activity_id, attempt=step.attempt)
        keeper = _LeaseKeeper(step.id, step.claimed_by, step.lease_until)
        try:
            with keeper:
                output = call_with_time_limit(
                    lambda: execute_task(
                        default_registry(), request,
                        request.context(step_id=str(step.id), attempt=step.attempt),
                        http_allowed_hosts=settings.WEFT_HTTP_ALLOWED_HOSTS),
                    request.timeout)
            outcome = ("ok", output)
        except Exception as exc:
            if isinstance(exc, TimeoutError):
                # Interrupted wherever it was, perhaps inside a query: fresh sessions.
                connections.close_all()
            outcome = ("error", exc)
            will_retry = should_retry(request.retry, step.attempt, exc)
            log_activity_failure(logger, request=request, attempt=step.attempt, exc=exc,
                                 will_retry=will_retry, step_id=str(step.id))
            if will_retry:
                return _retry_if_still_owned(step, request, exc, log), None
        finally:
            step.lease_until = keeper.lease_until  # for the burst's budget below
    applier = _write_at_once(step, outcome, claim_next_for)
    if applier is not None:
        log.info("step_done", status=applier.instance.status)
        return "done", applier.claimed_next
    held = False
    with transaction.atomic():
        instance = instance_lock(None, step.instance_id)
        if instance.held and instance.status in InstanceStatus.active():
            if outcome is None:
                # Claimed before the operator suspended, not yet run: nothing of it executes.
                return _put_back(step, log), None
            # Suspended while the task ran: its result is recorded, and that is all. What
            # comes next (inline activities included) waits, unclaimed, for the release.
            claim_next_for = None
            held = True
        if instance.status not in InstanceStatus.active():
            Step.objects.filter(pk=step.pk).update(status=StepStatus.CANCELLED,
                                                   finished_at=timezone.now())
            log.info("step_discarded", instance_status=instance.status)
            return "discarded", None
        plan = plan_for_instance(instance)
        applier = ResultApplier(instance, plan, budget=Budget.burst(lease_until=step.lease_until))
        if held:
            applier.apply(_engine_call(step, instance, plan, outcome, max_steps=0))
        else:
            applier.apply_burst(_engine_call(step, instance, plan, outcome,
                                             max_steps=applier.budget.next_chunk()))
        applier.finish(completed_step=step, step_error=_error_json(outcome),
                       claim_next_for=claim_next_for)
    log.info("step_done", status=instance.status)
    return "done", applier.claimed_next


# Constant text: prepared once per database session, no ORM query building per step.
_HELD_SQL = "SELECT held FROM workflows_workflowinstance WHERE id = %s"


def _held(instance_id) -> bool:
    """Whether an operator suspended the instance (one short statement: this runs before every
    task a worker continues with)."""
    with connection.cursor() as cursor:
        # As the field stores it (SQLite keeps a UUID as 32 hex digits).
        cursor.execute(_HELD_SQL, [WorkflowInstance._meta.pk.get_db_prep_value(
            instance_id, connection)])
        row = cursor.fetchone()
    return bool(row and row[0])


def _write_at_once(step: Step, outcome, claim_next_for: str | None) -> ResultApplier | None:
    """The hot path: apply the step to the instance as read with its claim (or back from the
    previous step's write) and write everything in one statement that checks the row is still
    that version (`ResultApplier.write_at_once`). None when it does not apply (held, ended,
    changed meanwhile, or the engine asked for more than instance, records and steps): nothing
    was written, and the caller takes the instance row lock and does it the usual way."""
    instance = getattr(step, "instance_read", None)
    step.instance_read = None  # read once: the locked way below reads the row again
    if instance is None or instance.held or instance.status not in InstanceStatus.active():
        return None
    plan = plan_for_instance(instance)
    applier = ResultApplier(instance, plan, budget=Budget.burst(lease_until=step.lease_until),
                            at_once=True)
    try:
        applier.apply_burst(_engine_call(step, instance, plan, outcome,
                                         max_steps=applier.budget.next_chunk()))
    except NotAtOnce:
        return None
    if not applier.can_write_at_once():
        return None
    if not applier.write_at_once(completed_step=step, step_error=_error_json(outcome),
                                 claim_next_for=claim_next_for):
        return None
    return applier


def _retry_if_still_owned(step: Step, request: TaskRequest, exc: BaseException, log) -> str:
    """Schedules the next attempt of a failed task, under the instance lock, only while the
    step is still this worker's (a cancel or a lease takeover did not take it), the instance
    is active (a held one's retry waits for the release) and the engine still owns the task
    (`wait_any` may have disowned it). A faulted instance's task gets no retry here: an
    operator's retry re-issues it. (instance, task, attempt) is unique, so two chains of
    attempts cannot both start."""
    with transaction.atomic():
        instance = instance_lock(None, step.instance_id)
        owned = instance.status in InstanceStatus.active() and \
            step.task_key in (instance.state.get("tasks") or {})
        finished = Step.objects.filter(
            pk=step.pk, status=StepStatus.RUNNING, claimed_by=step.claimed_by,
        ).update(status=StepStatus.DONE if owned else StepStatus.CANCELLED,
                 finished_at=timezone.now(), error=error_of(exc, step.attempt), lease_until=None)
        if not finished:
            log.info("step_retry_dropped", reason="the step is no longer this worker's",
                     error=str(exc))
            return "discarded"
        if not owned:
            log.info("step_retry_dropped", reason="task not owned by an active instance",
                     instance_status=instance.status, error=str(exc))
            return "discarded"
        Step.objects.bulk_create([retry_step(step, _InstanceRef(step), request, exc)],
                                 ignore_conflicts=True)
    log.info("step_retrying", error=str(exc))
    return "retrying"


class _InstanceRef:
    """What `new_step` needs of an instance, without loading it."""

    def __init__(self, step: Step) -> None:
        self.id = step.instance_id
        self.tenant_id = step.tenant_id


def _error_json(outcome) -> dict | None:
    if outcome and outcome[0] == "error":
        exc = outcome[1]
        return {"message": str(exc) or type(exc).__name__, "type": type(exc).__name__}
    return None


def _put_back(step: Step, log) -> str:
    """A claimed step of a held instance goes back to pending, unpublished and without this
    delivery counted; releasing the instance publishes it again."""
    Step.objects.filter(pk=step.pk, status=StepStatus.RUNNING).update(
        status=StepStatus.PENDING, claimed_by=None, lease_until=None, published_at=None,
        sent_at=None, deliveries=Greatest(F("deliveries") - 1, 0))
    log.info("step_held")
    return "held"


def _engine_call(step: Step, instance: WorkflowInstance, plan, outcome, *, max_steps: int):
    now = timezone.now()
    if step.kind == StepKind.TASK:
        status, value = outcome
        if status == "ok":
            return engine.complete_task(plan, instance.state, task_key=step.task_key,
                                        output=value, now=now, attempt=step.attempt,
                                        max_steps=max_steps)
        return engine.fail_task(plan, instance.state, task_key=step.task_key, now=now,
                                error=error_of(value, step.attempt), max_steps=max_steps)
    if step.kind == StepKind.RESUME:
        return engine.resume_bookmark(plan, instance.state,
                                      bookmark_key=step.payload["bookmark_key"],
                                      payload=step.payload.get("payload"), now=now,
                                      max_steps=max_steps)
    if step.kind == StepKind.FAIL:
        return engine.fail_task(plan, instance.state, task_key=step.payload["bookmark_key"],
                                now=now, error={"message": f"child workflow "
                                                           f"{step.payload.get('child_id')} "
                                                           f"{step.payload.get('child_status')}",
                                                "type": "ChildFailed"},
                                max_steps=max_steps)
    return engine.advance(plan, instance.state, now=now, max_steps=max_steps)


def retry_step(step: Step, instance_like, request: TaskRequest, exc: BaseException) -> Step:
    """The next attempt of a failed task: a new step due after the backoff."""
    delay = engine.retry_delay(request.retry, step.attempt, random.random())
    run_after = timezone.now() + timedelta(seconds=delay)
    retry = new_step(instance_like, StepKind.TASK, queue=step.queue, payload=step.payload,
                     task_key=step.task_key, attempt=step.attempt + 1, run_after=run_after)
    logger.info("task_retry_scheduled", step_id=str(step.id), attempt=step.attempt + 1,
                delay_seconds=round(delay, 3), error=str(exc))
    return retry
