"""Timers due together: the resumes go out several to a message, and a worker resumes a
message's instances in one transaction (`services.resumes`), each exactly once; what the batch
does not take (other kinds, held instances, duplicates) is left to `step_process`."""

from datetime import timedelta
from unittest import mock

import pytest
from django.utils import timezone

from tests.integration.execution.conftest import drain_steps, sequence
from workflows.models import (
    Bookmark,
    JournalEntry,
    Step,
    StepKind,
    StepStatus,
    WorkflowInstance,
)
from workflows.services import resumes
from workflows.services.inline import instance_execute
from workflows.services.instance_actions import instance_cancel, instance_hold, instance_release
from workflows.services.instances import instance_dispatch
from workflows.services.resumes import resumes_process
from workflows.services.runner import step_process
from workflows.services.timers import resumes_per_message, timers_fire_due, timers_next_due
from workflows.tasks import process_steps

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def batches_on(settings):
    """Batches are off by default (the hot path is cheaper here); these tests are about them."""
    settings.WEFT_RESUME_BATCHES = True


def nap() -> dict:
    return sequence("nap", [
        {"id": "wait", "type": "Delay", "duration": 60},
        {"id": "out", "type": "SetOutput", "output": "woke", "value": {"expr": "result"}},
    ], outputs=[{"name": "woke", "type": "string"}])


def napping(tenant, publish, count: int) -> list:
    publish(nap())
    ids = [instance_execute(tenant=tenant, definition_id="nap").id for _ in range(count)]
    Bookmark.objects.filter(instance_id__in=ids).update(
        due_at=timezone.now() - timedelta(seconds=1))
    return ids


def fired(tenant, publish, count: int) -> tuple[list, list[str]]:
    ids = napping(tenant, publish, count)
    assert timers_fire_due() == count
    # In the order of `ids` (one claim writes them all with the same `created_at`).
    step_of = dict(Step.objects.filter(instance_id__in=ids, kind=StepKind.RESUME)
                   .values_list("instance_id", "id"))
    steps = [str(step_of[instance_id]) for instance_id in ids]
    return ids, steps


def resumed(ids) -> int:
    return JournalEntry.objects.filter(instance_id__in=ids, event="resumed").count()


def test_a_message_of_resumes_resumes_every_instance_once(tenant, publish):
    ids, steps = fired(tenant, publish, 30)
    outcomes, left = resumes_process(step_ids=steps, worker="w")
    assert outcomes == ["done"] * 30 and left == []
    assert set(WorkflowInstance.objects.filter(id__in=ids).values_list("status", flat=True)) \
        == {"finished"}
    assert resumed(ids) == 30
    assert set(Step.objects.filter(id__in=steps).values_list("status", flat=True)) == {"done"}
    # The same message again (SQS delivers at least once): nothing is taken twice.
    outcomes, left = resumes_process(step_ids=steps, worker="w")
    assert outcomes == [] and left == steps
    assert {step_process(step_id=s, worker="w") for s in left} == {"skipped"}
    assert resumed(ids) == 30


def test_the_batch_takes_only_pending_resumes_and_leaves_the_rest_in_order(tenant, publish):
    ids, steps = fired(tenant, publish, 3)
    publish(sequence("plain", [{"id": "note", "type": "SetVariable", "variable": "v",
                                "value": 1}], variables=[{"name": "v", "type": "number"}]))
    advance = str(Step.objects.get(
        instance=instance_dispatch(tenant=tenant, definition_id="plain")).id)
    message = [advance, steps[0], steps[1], steps[2]]
    outcomes, left = resumes_process(step_ids=message, worker="w")
    assert outcomes == ["done"] * 3 and left == [advance]
    assert Step.objects.get(id=advance).status == StepStatus.PENDING  # untouched
    assert resumed(ids) == 3


def test_a_held_instance_is_not_resumed_until_released(tenant, publish):
    ids, steps = fired(tenant, publish, 4)
    instance_hold(tenant=tenant, instance_id=ids[0])
    outcomes, left = resumes_process(step_ids=steps, worker="w")
    assert outcomes == ["done"] * 3 and left == [steps[0]]
    assert step_process(step_id=steps[0], worker="w") == "skipped"
    assert resumed(ids) == 3
    instance_release(tenant=tenant, instance_id=ids[0])
    drain_steps()
    assert resumed(ids) == 4


def test_a_hold_or_a_cancel_after_the_claim_is_respected(tenant, publish):
    ids, steps = fired(tenant, publish, 3)
    claimed = resumes._claim_many(steps, "w|p:test|1")
    assert len(claimed) == 3
    instance_hold(tenant=tenant, instance_id=ids[0])  # an operator, between claim and lock
    instance_cancel(tenant=tenant, instance_id=ids[1])
    outcomes = dict(zip([step.instance_id for step in claimed],
                        resumes._resume_claimed(claimed), strict=True))
    assert [outcomes[instance_id] for instance_id in ids] == ["held", "discarded", "done"]
    held = Step.objects.get(id=steps[0])
    assert (held.status, held.claimed_by, held.deliveries) == (StepStatus.PENDING, None, 0)
    assert Step.objects.get(id=steps[1]).status == StepStatus.CANCELLED
    assert WorkflowInstance.objects.get(id=ids[1]).status == "cancelled"
    assert resumed(ids) == 1
    instance_release(tenant=tenant, instance_id=ids[0])
    drain_steps()
    assert resumed(ids) == 2


def test_one_failing_resume_sends_the_whole_message_through_step_process(tenant, publish):
    ids, steps = fired(tenant, publish, 5)
    real = resumes._resume
    broken = WorkflowInstance.objects.get(id=ids[2]).id

    def resume_or_fail(step, instance, budget):
        if instance.id == broken:
            raise RuntimeError("a bug in one instance's resume")
        real(step, instance, budget)

    with mock.patch.object(resumes, "_resume", resume_or_fail):
        outcomes = process_steps(steps)  # the Celery task, as a worker runs it
    assert outcomes == ["done"] * 5
    assert resumed(ids) == 5  # each once: the batch's work was rolled back
    assert set(WorkflowInstance.objects.filter(id__in=ids).values_list("status", flat=True)) \
        == {"finished"}


def test_two_timers_of_one_instance_resume_in_the_same_batch(tenant, publish):
    publish(sequence("both", [
        {"id": "fork", "type": "Fork", "branches": [
            {"id": "a", "type": "Delay", "duration": 60},
            {"id": "b", "type": "Delay", "duration": 60}]},
        {"id": "out", "type": "SetOutput", "output": "done", "value": True},
    ], outputs=[{"name": "done", "type": "boolean"}]))
    instance = instance_execute(tenant=tenant, definition_id="both")
    Bookmark.objects.filter(instance=instance).update(due_at=timezone.now())
    assert timers_fire_due() == 2
    steps = [str(s) for s in Step.objects.filter(instance=instance, kind=StepKind.RESUME)
             .values_list("id", flat=True)]
    outcomes, left = resumes_process(step_ids=steps, worker="w")
    assert outcomes == ["done", "done"] and left == []
    instance.refresh_from_db()
    assert instance.status == "finished" and instance.output == {"done": True}
    assert resumed([instance.id]) == 2


def test_resumes_spread_over_messages_and_the_next_due_time_is_read(settings):
    settings.WEFT_STEPS_SINGLE_MESSAGES = 16
    settings.WEFT_RESUMES_PER_MESSAGE = 50
    assert resumes_per_message(17) == 2  # at least 16 messages for idle workers
    assert resumes_per_message(100) == 7
    assert resumes_per_message(1000) == 50  # at most 50 to a message
    assert timers_next_due(after=timezone.now()) is None


def test_the_next_due_time_is_the_earliest_timer_still_to_come(tenant, publish):
    ids = napping(tenant, publish, 2)
    later = timezone.now() + timedelta(seconds=30)
    Bookmark.objects.filter(instance_id=ids[1]).update(due_at=later)
    assert timers_next_due(after=timezone.now()) == later  # the due one is not "next"


def test_batches_are_off_by_default_and_a_message_resumes_one_by_one(tenant, publish, settings):
    settings.WEFT_RESUME_BATCHES = False
    ids, steps = fired(tenant, publish, 3)
    assert resumes_process(step_ids=steps, worker="w") == ([], steps)
    assert process_steps.run(steps) == ["done"] * 3
    assert resumed(ids) == 3
