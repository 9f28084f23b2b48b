"""Resuming many instances at once: what a worker does first with a message of several steps
(a thousand timers due in the same second go out `WEFT_RESUMES_PER_MESSAGE` to a message).

`resumes_process` claims the message's RESUME steps in one UPDATE, locks their instances in one
`SELECT ... ORDER BY id FOR UPDATE`, resumes each through the engine and `ResultApplier`, marks
the steps done in one UPDATE and commits once. A batch costs a fixed number of round trips
plus each instance's own records (its UPDATE, journal, activity executions), where
`step_process` spent eight per resume (claim, BEGIN, lock, those three, the step, COMMIT).
Since the hot path (`workflows.services.writes`) `step_process` spends two (the claim that
reads the instance, one write statement) and less CPU than a batch (`python -m
bench.resume_batches`, load 1.1: 2.00 round trips and 1.49 ms per resume one by one, against
3.10 and 2.66 ms in batches of 50), so batches are off by default (`WEFT_RESUME_BATCHES`).
They stay for a database far away, where a round trip costs more than the CPU.

What the batch does not take is returned for `step_process`, one by one, as before: other
kinds of step, steps that are not pending (a duplicate message, a step running elsewhere or
taken over after a lease), held instances (the claim refuses them), steps delivered too often
(poison is `step_process`'s to declare). A batch that fails on anything but the database rolls
back whole, its claims are undone, and its steps go to `step_process` one by one; a database
error is raised, for the task's retry (claims it could not undo run out with their lease).

Lock order as in `step_process`: the steps (claimed and committed first), then instance rows,
here several, in id order, so two batches never wait on each other in a cycle. No continuation
(`claim_next_for`): whatever the resumed instances schedule is published.
"""

import contextlib
import uuid
from datetime import timedelta

import structlog
from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import F
from django.db.models.functions import Greatest
from django.utils import timezone

from runtime import engine
from workflows import instruments, tracing
from workflows.models import InstanceStatus, Step, StepKind, StepStatus, WorkflowInstance
from workflows.plans import plan_for_instance
from workflows.services.apply import Budget, ResultApplier
from workflows.services.workers import claimer_for

logger = structlog.get_logger(__name__)

_CLAIM_MANY_SQL = """
UPDATE workflows_step SET status = 'running', deliveries = deliveries + 1, claimed_by = %s,
       lease_until = %s, started_at = COALESCE(started_at, %s)
 WHERE id IN ({ids}) AND kind = %s AND status = 'pending' AND deliveries < %s
   AND NOT EXISTS (SELECT 1 FROM workflows_workflowinstance i
                    WHERE i.id = workflows_step.instance_id AND i.held)
RETURNING id, tenant_id, instance_id, kind, status, queue, task_key, payload, attempt,
          run_after, published_at, sent_at, publish_count, deliveries, claimed_by, lease_until,
          started_at, finished_at, error, created_at
"""


def resumes_process(*, step_ids: list[str], worker: str) -> tuple[list[str], list[str]]:
    """Resume the RESUME steps among `step_ids` together. Returns (the outcomes of the steps it
    took, the ids left for `step_process`, in their order)."""
    if not settings.WEFT_RESUME_BATCHES or len(step_ids) < 2:
        return [], list(step_ids)
    claimed = _claim_many(step_ids, claimer_for(worker))
    if not claimed:
        return [], list(step_ids)
    taken = {str(step.id) for step in claimed}
    rest = [step_id for step_id in step_ids if str(step_id) not in taken]
    try:
        outcomes = _resume_claimed(claimed)
    except DatabaseError:
        with contextlib.suppress(DatabaseError):  # if the database is back already
            _unclaim(claimed)
        raise
    except Exception as exc:  # one instance's failure must not cost the others their resume
        logger.warning("resume_batch_failed", steps=len(claimed), error=str(exc))
        _unclaim(claimed)
        return [], list(step_ids)
    return outcomes, rest


def _claim_many(step_ids: list[str], claimer: str) -> list[Step]:
    now = timezone.now()
    lease_until = now + timedelta(seconds=settings.WEFT_STEP_LEASE_SECONDS)
    ops = connection.ops
    pk = Step._meta.pk
    ids = [pk.get_db_prep_value(step_uuid, connection)
           for step_uuid in filter(None, map(_as_uuid, step_ids))]
    if not ids:  # a malformed message: `step_process` answers each id on its own
        return []
    params = [claimer, ops.adapt_datetimefield_value(lease_until),
              ops.adapt_datetimefield_value(now), *ids, StepKind.RESUME.value,
              settings.WEFT_STEP_MAX_DELIVERIES]
    # An IN list rather than `= ANY(array)`: the same statement on SQLite (`make run`).
    sql = _CLAIM_MANY_SQL.format(ids=", ".join(["%s"] * len(ids)))
    return list(Step.objects.raw(sql, params))


def _as_uuid(step_id) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(step_id))
    except ValueError:
        return None


def _unclaim(claimed: list[Step]) -> None:
    """The batch rolled back: its claims are undone (this delivery not counted), so that
    `step_process` claims the steps again one by one."""
    Step.objects.filter(pk__in=[step.pk for step in claimed], status=StepStatus.RUNNING,
                        claimed_by=claimed[0].claimed_by).update(
        status=StepStatus.PENDING, claimed_by=None, lease_until=None,
        deliveries=Greatest(F("deliveries") - 1, 0))


def _resume_claimed(claimed: list[Step]) -> list[str]:
    outcomes: list[str] = []
    with transaction.atomic():
        instances = {
            instance.id: instance for instance in
            WorkflowInstance.objects.select_for_update(of=("self",)).select_related("tenant")
            .filter(id__in={step.instance_id for step in claimed}).order_by("id")
        }
        budget = Budget.burst(lease_until=min(step.lease_until for step in claimed))
        done, cancelled, put_back = [], [], []
        for step in claimed:
            instance = instances.get(step.instance_id)
            context = {"step_id": str(step.id), "instance_id": str(step.instance_id)}
            with structlog.contextvars.bound_contextvars(**context), tracing.step_span(step):
                if instance is None or instance.status not in InstanceStatus.active():
                    cancelled.append(step.pk)
                    outcome = "discarded"
                elif instance.held:
                    put_back.append(step.pk)  # suspended since the claim: waits for resume/
                    outcome = "held"
                else:
                    _resume(step, instance, budget)
                    done.append(step.pk)
                    outcome = "done"
                logger.info(f"step_{outcome}", kind=step.kind)
            outcomes.append(outcome)
        now = timezone.now()
        if done:
            Step.objects.filter(pk__in=done).update(
                status=StepStatus.DONE, finished_at=now, error=None, lease_until=None)
        if cancelled:
            Step.objects.filter(pk__in=cancelled).update(
                status=StepStatus.CANCELLED, finished_at=now)
        if put_back:
            Step.objects.filter(pk__in=put_back, status=StepStatus.RUNNING).update(
                status=StepStatus.PENDING, claimed_by=None, lease_until=None,
                published_at=None, sent_at=None, deliveries=Greatest(F("deliveries") - 1, 0))
    for step, outcome in zip(claimed, outcomes, strict=True):
        instruments.step_processed(queue=step.queue, outcome=outcome)
    return outcomes


def _resume(step: Step, instance: WorkflowInstance, budget: Budget) -> None:
    plan = plan_for_instance(instance)
    applier = ResultApplier(instance, plan, budget=budget)
    applier.apply_burst(engine.resume_bookmark(
        plan, instance.state, bookmark_key=step.payload["bookmark_key"],
        payload=step.payload.get("payload"), now=timezone.now(),
        max_steps=budget.next_chunk()))
    applier.finish()
