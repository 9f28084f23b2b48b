"""The step runner: what a worker does with one message (`step_process`, called by the Celery task
`weft.run_step`).

It claims the step with one conditional UPDATE (pending, or running with an expired lease: its
worker died), so a duplicate or late message is acknowledged and skipped. Task activities run
outside any transaction or lock, with their lease kept alive by a small thread and a timeout;
a failure within the retry policy becomes a new step due after the backoff. Applying a result
(and the inline burst that follows) takes the instance row lock briefly, through
`apply.ResultApplier`. Lock order: the step row (claim), then the instance row.
"""

import contextvars
import os
import random
import socket
import threading
import time
import uuid
from datetime import timedelta

import structlog
from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.utils import timezone

from runtime import engine
from runtime.activities import default_registry
from runtime.engine import TaskRequest, execute_task, should_retry
from workflows import instruments, tracing
from workflows.models import InstanceStatus, Step, StepKind, StepStatus, WorkflowInstance
from workflows.plans import plan_for_instance
from workflows.services.apply import ResultApplier, error_of
from workflows.services.failures import log_activity_failure
from workflows.services.instances import instance_lock
from workflows.services.outbox import STEP_UPSERT_FIELDS, new_step
from workflows.services.poison import PoisonStep, step_mark_dead

logger = structlog.get_logger(__name__)


_CLAIM_SQL = """
UPDATE workflows_step SET status = 'running', deliveries = deliveries + 1, claimed_by = %s,
       lease_until = %s, started_at = COALESCE(started_at, %s)
 WHERE id = %s
   AND (status = 'pending' OR (status = 'running' AND (lease_until < %s OR claimed_by = %s)))
   AND NOT EXISTS (SELECT 1 FROM workflows_workflowinstance i
                    WHERE i.id = workflows_step.instance_id AND i.held)
RETURNING id, tenant_id, instance_id, kind, status, queue, task_key, payload, attempt,
          run_after, published_at, publish_count, deliveries, claimed_by, lease_until,
          started_at, finished_at, error, created_at
"""


def claimer_id(worker: str) -> str:
    """Who holds a step: the worker's name, this machine and this process."""
    return f"{worker}|{socket.gethostname()}|{os.getpid()}"


def _dead_local_claimer(step_id) -> str:
    """The claimer of a running step when it was a process on this machine that no longer
    exists (a worker child killed mid-step), so its lease need not be waited out; else ""."""
    claimed_by = Step.objects.filter(pk=step_id, status=StepStatus.RUNNING).values_list(
        "claimed_by", flat=True).first() or ""
    _, _, rest = claimed_by.partition("|")
    host, _, pid = rest.partition("|")
    if host != socket.gethostname() or not pid.isdigit() or int(pid) == os.getpid():
        return ""
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return claimed_by
    except PermissionError:
        return ""
    return ""


def _claim(step_id, worker: str) -> Step | None:
    now = timezone.now()
    lease_until = now + timedelta(seconds=settings.WEFT_STEP_LEASE_SECONDS)
    ops = connection.ops
    pk = Step._meta.pk.get_db_prep_value(uuid.UUID(str(step_id)), connection)

    def attempt(dead_claimer: str) -> Step | None:
        params = [claimer_id(worker), ops.adapt_datetimefield_value(lease_until),
                  ops.adapt_datetimefield_value(now), pk, ops.adapt_datetimefield_value(now),
                  dead_claimer]
        claimed = list(Step.objects.raw(_CLAIM_SQL, params))
        return claimed[0] if claimed else None

    step = attempt("")
    if step is None:
        dead = _dead_local_claimer(step_id)
        if dead:
            step = attempt(dead)
    return step


class _LeaseKeeper:
    """Extends a running task's lease while it runs. If the worker process dies, so does this
    thread, the lease expires, and the sweeper hands the step to another worker."""

    def __init__(self, step_id) -> None:
        self.step_id = step_id
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopped.set()
        self.thread.join(timeout=5)

    def _run(self) -> None:
        interval = max(0.5, settings.WEFT_STEP_LEASE_SECONDS / 3)
        try:
            while not self.stopped.wait(interval):
                Step.objects.filter(pk=self.step_id, status=StepStatus.RUNNING).update(
                    lease_until=timezone.now() + timedelta(
                        seconds=settings.WEFT_STEP_LEASE_SECONDS))
        except Exception as exc:  # losing the lease only risks a duplicate, never a loss
            logger.warning("lease_renewal_failed", step_id=str(self.step_id), error=str(exc))
        finally:
            connection.close()


def _call_with_timeout(function, timeout: float | None):
    """Runs `function` and gives up waiting after `timeout` seconds (the call is abandoned,
    not killed: Python cannot stop a thread)."""
    if not timeout:
        return function()
    outcome: dict = {}
    # The thread runs in this one's context: its log lines and spans (an HTTP call) belong to
    # the step.
    context = contextvars.copy_context()

    def target() -> None:
        try:
            outcome["value"] = context.run(function)
        except BaseException as exc:
            outcome["error"] = exc
        finally:
            close_old_connections()

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise TimeoutError(f"activity did not finish within {timeout} seconds")
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


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
            outcome, step = _process_claimed(step, claimer_id(worker) if may_continue else None)
        instruments.step_processed(queue=queue, outcome=outcome)
        first = first or outcome
        if step is None:
            break
    return first


def _process_claimed(step: Step, claim_next_for: str | None) -> tuple[str, Step | None]:
    """Process a claimed step; returns (what happened, the next step claimed for this worker)."""
    log = logger.bind(kind=step.kind)
    if step.deliveries > settings.WEFT_STEP_MAX_DELIVERIES:
        step_mark_dead(step_id=step.id, reason=f"delivered {step.deliveries - 1} times "
                                               "without finishing")
        raise PoisonStep(step.id)
    outcome = None
    if step.kind == StepKind.TASK:
        request = TaskRequest.from_dict(step.payload)
        log = log.bind(activity_id=request.activity_id, attempt=step.attempt)
        try:
            with _LeaseKeeper(step.id):
                output = _call_with_timeout(
                    lambda: execute_task(
                        default_registry(), request,
                        request.context(step_id=str(step.id), attempt=step.attempt),
                        http_allowed_hosts=settings.WEFT_HTTP_ALLOWED_HOSTS),
                    request.timeout)
            outcome = ("ok", output)
        except Exception as exc:
            outcome = ("error", exc)
            will_retry = should_retry(request.retry, step.attempt, exc)
            log_activity_failure(logger, request=request, attempt=step.attempt, exc=exc,
                                 will_retry=will_retry, step_id=str(step.id))
            if will_retry:
                with transaction.atomic():
                    Step.objects.bulk_create(
                        [retry_step(step, _InstanceRef(step), request, exc), _done(step, exc)],
                        update_conflicts=True, unique_fields=["id"],
                        update_fields=STEP_UPSERT_FIELDS)
                log.info("step_retrying", error=str(exc))
                return "retrying", None
    with transaction.atomic():
        instance = instance_lock(None, step.instance_id)
        if instance.held:
            # Suspended meanwhile: this step's result is applied (it ran), but the steps it
            # schedules wait, unclaimed, until the instance is resumed.
            claim_next_for = None
        if instance.status not in InstanceStatus.active():
            Step.objects.filter(pk=step.pk).update(status=StepStatus.CANCELLED,
                                                   finished_at=timezone.now())
            log.info("step_discarded", instance_status=instance.status)
            return "discarded", None
        plan = plan_for_instance(instance)
        result = _engine_call(step, instance, plan, outcome)
        applier = ResultApplier(instance, plan)
        applier.apply(result)
        applier.finish(completed_step=step, step_error=_error_json(outcome),
                       claim_next_for=claim_next_for)
    log.info("step_done", status=instance.status)
    return "done", applier.claimed_next


class _InstanceRef:
    """What `new_step` needs of an instance, without loading it."""

    def __init__(self, step: Step) -> None:
        self.id = step.instance_id
        self.tenant_id = step.tenant_id


def _done(step: Step, exc: BaseException) -> Step:
    step.status = StepStatus.DONE
    step.finished_at = timezone.now()
    step.error = error_of(exc, step.attempt)
    step.lease_until = None
    return step


def _error_json(outcome) -> dict | None:
    if outcome and outcome[0] == "error":
        exc = outcome[1]
        return {"message": str(exc) or type(exc).__name__, "type": type(exc).__name__}
    return None


def _engine_call(step: Step, instance: WorkflowInstance, plan, outcome):
    now = timezone.now()
    max_steps = settings.WEFT_BURST_MAX_STEPS
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
                                now=now, error={"message": f"child {step.payload.get('child_id')}"
                                                           f" {step.payload.get('child_status')}",
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
