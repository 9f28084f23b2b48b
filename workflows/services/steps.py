"""Steps on the workers: dispatch, run one step (idempotently), publish, sweep.

`step_run` is what the Celery task `weft.run_step` calls for every message. It claims the step
with one conditional UPDATE (pending, or running with an expired lease: its worker died), so a
duplicate or late message is acknowledged and skipped. Task activities run outside any
transaction or lock, with their lease kept alive by a small thread; applying their result (and
the inline burst that follows) takes the instance row lock briefly.
"""

import os
import socket
import threading
import time
import uuid
from datetime import timedelta

import structlog
from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.db.models import Q
from django.utils import timezone

from runtime import engine
from runtime.engine import TaskRequest, execute_task, should_retry
from workflows.models import (
    Incident,
    InstanceStatus,
    Step,
    StepKind,
    StepStatus,
    Tenant,
    WorkflowInstance,
)
from workflows.plans import plan_for_instance
from workflows.selectors.definitions import definition_get_published
from workflows.services.driver import (
    InstanceDriver,
    error_of,
    new_step,
    queue_of,
    retry_step,
)
from workflows.services.failures import log_activity_failure
from workflows.services.instances import instance_create, instance_lock

logger = structlog.get_logger(__name__)


# ---- dispatch --------------------------------------------------------------------------------


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
    step = new_step(instance, StepKind.RUN, queue=queue_of(plan))
    step.save(force_insert=True)
    steps_publish_on_commit([step])
    return instance


# ---- publishing ------------------------------------------------------------------------------


def steps_publish_on_commit(steps: list[Step]) -> None:
    if steps:
        due = [(s.id, s.queue, s.instance_id) for s in steps]
        transaction.on_commit(lambda: steps_publish(due))


def steps_publish(steps: list[tuple]) -> None:
    """Send the steps to the broker. A few steps (a fork's branches) get one message each, so
    that idle workers take them in parallel; many at once (a thousand timers due in the same
    second, a sweep after an outage) go in messages of up to `WEFT_STEPS_PER_MESSAGE`, which
    keeps the queue short (a deep queue slows every receive). A failure leaves the steps
    unpublished for the sweeper: a broker outage delays work, it never loses it."""
    from runtime.dispatch import publish_step, publish_steps

    failed = []
    per_message = settings.WEFT_STEPS_PER_MESSAGE
    if len(steps) <= settings.WEFT_STEPS_SINGLE_MESSAGES:
        batches = [[step] for step in steps]
    else:
        batches = [steps[i:i + per_message] for i in range(0, len(steps), per_message)]
    for batch in batches:
        try:
            if len(batch) == 1:
                step_id, queue, instance_id = batch[0]
                publish_step(step_id=step_id, queue=queue, group_id=instance_id)
            else:
                publish_steps(step_ids=[step_id for step_id, _, _ in batch], queue=batch[0][1])
        except Exception as exc:
            failed += [step_id for step_id, _, _ in batch]
            logger.warning("step_publish_failed", steps=len(batch), error=str(exc))
    if failed:
        Step.objects.filter(pk__in=failed, status=StepStatus.PENDING).update(published_at=None)


def steps_sweep(*, limit: int = 500) -> dict:
    """Publish due steps nobody published (broker down, delayed retries), and take back steps
    whose worker died (lease expired). Steps delivered too often without finishing are
    poison: they go dead and their instance faults with an incident."""
    now = timezone.now()
    stale = now - timedelta(seconds=settings.WEFT_STEP_REPUBLISH_AFTER)
    with transaction.atomic():
        stalled = list(
            Step.objects.select_for_update(skip_locked=True)
            .filter(status=StepStatus.RUNNING, lease_until__lt=now)
            .only("id", "deliveries", "instance_id", "queue")[:limit]
        )
        poison = [s for s in stalled if s.deliveries >= settings.WEFT_STEP_MAX_DELIVERIES]
        revived = [s for s in stalled if s.deliveries < settings.WEFT_STEP_MAX_DELIVERIES]
        if revived:
            Step.objects.filter(pk__in=[s.pk for s in revived]).update(
                status=StepStatus.PENDING, published_at=None, lease_until=None)
        due = list(
            Step.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(status=StepStatus.PENDING, run_after__lte=now, instance__held=False)
            .filter(Q(published_at__isnull=True) | Q(published_at__lt=stale))
            .order_by("run_after").only("id", "queue", "instance_id")[:limit]
        )
        if due:
            Step.objects.filter(pk__in=[s.pk for s in due]).update(published_at=now)
    for step in poison:
        step_mark_dead(step_id=step.id, reason=f"delivered {step.deliveries} times without "
                                               "finishing (the worker died each time)")
    steps_publish([(s.id, s.queue, s.instance_id) for s in due])
    return {"published": len(due), "revived": len(revived), "dead": len(poison)}


@transaction.atomic
def step_mark_dead(*, step_id, reason: str) -> None:
    """A poison step: it stops being retried, and its instance faults with an incident that
    an operator can act on (fix, then `instances/{id}/retry/` or re-drive)."""
    step = Step.objects.select_for_update().filter(pk=step_id).first()
    if step is None or step.status in (StepStatus.DONE, StepStatus.CANCELLED, StepStatus.DEAD):
        return
    instance = instance_lock(None, step.instance_id)
    step.status = StepStatus.DEAD
    step.finished_at = timezone.now()
    step.error = {"message": reason}
    step.save(update_fields=["status", "finished_at", "error"])
    if instance.status not in InstanceStatus.active():
        return
    plan = plan_for_instance(instance)
    activity_id = (step.payload or {}).get("activity_id", "")
    if step.kind == StepKind.TASK and step.task_key:
        result = engine.fail_task(plan, instance.state, task_key=step.task_key,
                                  now=timezone.now(),
                                  error={"message": f"poison step: {reason}", "type": "Poison"})
        if not result.ignored and result.incidents:
            driver = InstanceDriver(instance, plan, inline=False)
            driver.apply(result)
            driver.finish()
            return
    Incident.objects.create(instance=instance, activity_id=activity_id,
                            activity_type=(step.payload or {}).get("activity_type", ""),
                            code="poison_step", message=f"Step {step.id}: {reason}",
                            created_at=timezone.now(), data={"step_id": str(step.id)})
    instance.status = InstanceStatus.FAULTED
    instance.save(update_fields=["status", "updated_at"])


# ---- running one step ------------------------------------------------------------------------


class PoisonStep(Exception):
    """A message for a dead step. Raised (not returned) so that the broker does not delete the
    message: after its third receive SQS moves it to the dead-letter queue, where operators
    see it."""

    def __init__(self, step_id) -> None:
        super().__init__(f"step {step_id} is dead (poison); its message goes to the DLQ")
        self.step_id = step_id

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

    def target() -> None:
        try:
            outcome["value"] = function()
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


def step_run(*, step_id, worker: str = "inline") -> str:
    """Run one step, then (within a small budget) the next step it scheduled for the same
    instance, without a broker round trip. Returns what happened to the first step (for logs
    and tests). Every log line written meanwhile carries the step, instance, definition and
    correlation id."""
    step = _claim(step_id, worker)
    if step is None:
        if Step.objects.filter(pk=step_id, status=StepStatus.DEAD).exists():
            raise PoisonStep(step_id)
        return "skipped"
    first = None
    deadline = time.monotonic() + settings.WEFT_STEP_CONTINUE_SECONDS
    for count in range(settings.WEFT_STEP_CONTINUE_MAX + 1):
        context = {"step_id": str(step.id), "instance_id": str(step.instance_id)}
        if step.kind == StepKind.TASK:
            context.update(definition_id=step.payload.get("definition_id"),
                           correlation_id=step.payload.get("correlation_id"))
        may_continue = count < settings.WEFT_STEP_CONTINUE_MAX and time.monotonic() < deadline
        with structlog.contextvars.bound_contextvars(**context):
            outcome, step = _run_claimed(step, claimer_id(worker) if may_continue else None)
        first = first or outcome
        if step is None:
            break
    return first


def _run_claimed(step: Step, keep_for: str | None) -> tuple[str, Step | None]:
    """Run a claimed step; returns (what happened, the next step kept for this worker)."""
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
                        engine.default_registry(), request,
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
                        update_fields=["status", "finished_at", "error", "lease_until"])
                log.info("step_retrying", error=str(exc))
                return "retrying", None
    with transaction.atomic():
        instance = instance_lock(None, step.instance_id)
        if instance.held:
            # Suspended meanwhile: this step's result is applied (it ran), but the steps it
            # schedules wait, unclaimed, until the instance is resumed.
            keep_for = None
        if instance.status not in InstanceStatus.active():
            Step.objects.filter(pk=step.pk).update(status=StepStatus.CANCELLED,
                                                   finished_at=timezone.now())
            log.info("step_discarded", instance_status=instance.status)
            return "discarded", None
        plan = plan_for_instance(instance)
        result = _engine_call(step, instance, plan, outcome)
        driver = InstanceDriver(instance, plan, inline=False)
        driver.apply(result)
        driver.finish(completed_step=step, step_error=_error_json(outcome), keep_for=keep_for)
    log.info("step_done", status=instance.status)
    return "done", driver.kept


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
    return engine.run(plan, instance.state, now=now, max_steps=max_steps)
