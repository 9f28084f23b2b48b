"""A failed task's next attempt is scheduled only under the instance lock, and only when the
instance is active and the engine still owns the task (issue 8, hole 5). A cancelled step never
becomes done again, and a lease takeover cannot start a second chain of attempts: (instance,
task, attempt) is unique."""

from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from tests.integration.execution.conftest import drain_steps, sequence
from workflows.models import Step, StepKind, StepStatus
from workflows.services.instances import instance_dispatch
from workflows.services.runner import _claim, _process_claimed, step_process

pytestmark = pytest.mark.django_db


def flaky_once(definition_id: str = "flaky-once") -> dict:
    return sequence(definition_id, [{"id": "try", "type": "test.flaky",
                                     "input": {"fail_times": 1}}])


def first_task(instance, settings) -> Step:
    settings.WEFT_STEP_CONTINUE_MAX = 0
    step_process(step_id=Step.objects.get(instance=instance, kind=StepKind.ADVANCE).id,
                 worker="w")
    return Step.objects.get(instance=instance, kind=StepKind.TASK, attempt=1)


def attempts(instance) -> list[int]:
    return sorted(Step.objects.filter(instance=instance, kind=StepKind.TASK)
                  .values_list("attempt", flat=True))


def test_a_task_failing_after_cancel_schedules_no_retry_and_stays_cancelled(
        tenant, publish, operator, settings):
    publish(flaky_once())
    instance = instance_dispatch(tenant=tenant, definition_id="flaky-once")
    running = _claim(first_task(instance, settings).id, "w")
    assert operator.post(f"/api/v1/instances/{instance.id}/cancel/").status_code == 200
    assert _process_claimed(running, claim_next_for=None)[0] == "discarded"
    assert attempts(instance) == [1]
    assert Step.objects.get(pk=running.pk).status == StepStatus.CANCELLED


def test_a_held_instances_retry_waits_for_resume(tenant, publish, operator, settings):
    publish(flaky_once())
    instance = instance_dispatch(tenant=tenant, definition_id="flaky-once")
    running = _claim(first_task(instance, settings).id, "w")
    base = f"/api/v1/instances/{instance.id}"
    operator.post(f"{base}/suspend/")
    assert _process_claimed(running, claim_next_for=None)[0] == "retrying"
    retry = Step.objects.get(instance=instance, kind=StepKind.TASK, attempt=2)
    Step.objects.filter(pk=retry.pk).update(run_after=timezone.now())
    assert step_process(step_id=retry.id, worker="w") == "skipped"
    assert operator.get(f"{base}/").json()["status"] == "suspended"
    operator.post(f"{base}/resume/")
    drain_steps()
    assert operator.get(f"{base}/").json()["status"] == "finished"


def test_a_task_the_engine_disowned_is_not_retried(tenant, publish, settings):
    publish({"definition_id": "race", "name": "race", "root": {
        "type": "Fork", "id": "fork", "join": "wait_any", "branches": [
            {"type": "test.flaky", "id": "slow", "input": {"fail_times": 1}},
            {"type": "examples.add", "id": "fast", "input": {"a": 1, "b": 2}},
        ]}})
    instance = instance_dispatch(tenant=tenant, definition_id="race")
    settings.WEFT_STEP_CONTINUE_MAX = 0
    step_process(step_id=Step.objects.get(instance=instance).id, worker="w")
    slow = _claim(Step.objects.get(instance=instance, task_key__isnull=False,
                                   payload__activity_id="slow").id, "w")
    fast = Step.objects.get(instance=instance, payload__activity_id="fast")
    assert step_process(step_id=fast.id, worker="w2") == "done"  # wait_any: the fork is done
    instance.refresh_from_db()
    assert instance.status == "finished"
    assert _process_claimed(slow, claim_next_for=None)[0] == "discarded"
    assert not Step.objects.filter(instance=instance, payload__activity_id="slow",
                                   attempt=2).exists()


def test_a_lease_takeover_starts_one_chain_of_retries(tenant, publish, settings):
    publish(flaky_once())
    instance = instance_dispatch(tenant=tenant, definition_id="flaky-once")
    task = first_task(instance, settings)
    first = _claim(task.id, "w1")
    # The first worker stalls past its lease; another takes the step over.
    Step.objects.filter(pk=task.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
    second = _claim(task.id, "w2")
    assert second is not None
    assert _process_claimed(first, claim_next_for=None)[0] == "discarded"  # no longer its step
    assert _process_claimed(second, claim_next_for=None)[0] == "retrying"
    assert attempts(instance) == [1, 2]
    Step.objects.filter(instance=instance, attempt=2).update(run_after=timezone.now())
    drain_steps()
    instance.refresh_from_db()
    assert instance.status == "finished"


def test_instance_task_and_attempt_are_unique(tenant, publish, settings):
    publish(flaky_once())
    instance = instance_dispatch(tenant=tenant, definition_id="flaky-once")
    task = first_task(instance, settings)
    with pytest.raises(IntegrityError), transaction.atomic():
        Step.objects.create(tenant_id=task.tenant_id, instance_id=task.instance_id,
                            kind=StepKind.TASK, queue=task.queue, payload=task.payload,
                            task_key=task.task_key, attempt=1, run_after=timezone.now())
