"""The hot path (issue 14): a step's claim reads its instance, and what the step writes goes in
one statement that checks the instance row is still the version read
(`ResultApplier.write_at_once`). Whatever changed the row meanwhile (another step's result, a
suspend, a cancel) sends the step the locked way, from the current row: these tests make that
happen between the claim and the write, as a second worker or an operator would."""

import time
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests.integration.execution.conftest import drain_steps, sequence
from tests.integration.execution.test_steps import fork_of_tasks
from workflows.models import (
    ActivityExecution,
    Bookmark,
    JournalEntry,
    Step,
    StepKind,
    StepStatus,
)
from workflows.services.events import event_publish
from workflows.services.instances import instance_dispatch
from workflows.services.runner import (
    _claim,
    _LeaseKeeper,
    _process_claimed,
    _renewals,
    step_process,
)
from workflows.services.timers import timers_fire_due

pytestmark = pytest.mark.django_db


def statements(captured) -> list[str]:
    return [q["sql"] for q in captured if "SAVEPOINT" not in q["sql"]]


def locked(captured) -> bool:
    return any("FOR UPDATE" in sql for sql in statements(captured))


def journal_is_whole(instance) -> bool:
    sequences = list(JournalEntry.objects.filter(instance=instance)
                     .order_by("sequence").values_list("sequence", flat=True))
    return sequences == list(range(1, len(sequences) + 1))


def test_a_task_step_is_one_claim_and_one_write(tenant, publish, settings):
    settings.WEFT_STEP_CONTINUE_MAX = 0  # each step arrives as its own message
    publish(sequence("pair", [
        {"id": "one", "type": "examples.add", "input": {"a": 1, "b": 1}},
        {"id": "two", "type": "examples.add", "input": {"a": 2, "b": 2}},
    ]))
    instance = instance_dispatch(tenant=tenant, definition_id="pair")
    step_process(step_id=Step.objects.get(instance=instance).id, worker="w")
    task = Step.objects.get(instance=instance, kind=StepKind.TASK)
    with CaptureQueriesContext(connection) as captured:
        assert step_process(step_id=task.id, worker="w") == "done"
    sent = statements(captured)
    assert len(sent) == 2 and not locked(captured), sent
    task.refresh_from_db()
    assert (task.status, task.lease_until, task.finished_at is not None) == ("done", None, True)
    [following] = Step.objects.filter(instance=instance, status=StepStatus.PENDING)
    assert (following.kind, following.task_key is not None) == (StepKind.TASK, True)
    records = dict(ActivityExecution.objects.filter(instance=instance)
                   .values_list("activity_id", "status"))
    assert records == {"main": "running", "one": "completed", "two": "running"}
    drain_steps()
    instance.refresh_from_db()
    assert instance.status == "finished" and journal_is_whole(instance)


def test_a_branch_finished_by_another_worker_meanwhile_sends_the_step_the_locked_way(
        tenant, publish):
    publish(fork_of_tasks())
    instance = instance_dispatch(tenant=tenant, definition_id="fan-out")
    step_process(step_id=Step.objects.get(instance=instance).id, worker="w")
    left, right = Step.objects.filter(instance=instance, kind=StepKind.TASK).order_by("task_key")
    mine = _claim(left.id, "w1")  # reads the instance as it is now...
    assert step_process(step_id=right.id, worker="w2") == "done"  # ...which then changes
    with CaptureQueriesContext(connection) as captured:
        assert _process_claimed(mine, claim_next_for=None)[0] == "done"
    assert locked(captured)  # the write found another version and wrote nothing
    drain_steps()
    instance.refresh_from_db()
    assert (instance.status, instance.output) == ("finished", {"sum": 33})
    assert journal_is_whole(instance)
    assert set(Step.objects.filter(instance=instance).values_list("status", flat=True)) == {
        "done"}


def test_a_cancel_between_claim_and_write_discards_the_result(tenant, publish, operator,
                                                             settings):
    settings.WEFT_STEP_CONTINUE_MAX = 0
    publish(sequence("pair", [
        {"id": "one", "type": "examples.add", "input": {"a": 1, "b": 1}},
        {"id": "two", "type": "examples.add", "input": {"a": 2, "b": 2}},
    ]))
    instance = instance_dispatch(tenant=tenant, definition_id="pair")
    step_process(step_id=Step.objects.get(instance=instance).id, worker="w")
    task = Step.objects.get(instance=instance, kind=StepKind.TASK, status=StepStatus.PENDING)
    running = _claim(task.id, "w")
    assert operator.post(f"/api/v1/instances/{instance.id}/cancel/").status_code == 200
    assert _process_claimed(running, claim_next_for="w")[0] == "discarded"
    instance.refresh_from_db()
    assert instance.status == "cancelled"
    assert not Step.objects.filter(instance=instance, task_key__isnull=False).exclude(
        pk=task.pk).exists()
    assert "two" not in set(ActivityExecution.objects.filter(instance=instance)
                            .values_list("activity_id", flat=True))


def wait_for(predicate, seconds: float = 20.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


@pytest.mark.django_db(transaction=True)
def test_one_thread_renews_the_leases_of_every_running_task_until_each_ends(
        tenant, publish, settings):
    settings.WEFT_STEP_LEASE_SECONDS = 1.5  # renewed every 0.5 s
    publish(fork_of_tasks())
    steps = []
    for claimer in ("celery@a|w:1|1", "celery@a|w:1|2", "celery@a|w:1|3"):
        step = Step.objects.get(instance=instance_dispatch(tenant=tenant,
                                                           definition_id="fan-out"))
        lease = timezone.now() + timedelta(seconds=1.5)
        Step.objects.filter(pk=step.pk).update(status=StepStatus.RUNNING, claimed_by=claimer,
                                               deliveries=1, lease_until=lease)
        steps.append(_LeaseKeeper(step.id, claimer, lease))
    first, second, taken = steps
    Step.objects.filter(pk=taken.step_id).update(claimed_by="celery@b|w:2|1")  # taken over
    with first, second, taken:
        leases = (first.lease_until, second.lease_until)
        assert wait_for(lambda: first.lease_until > leases[0] and second.lease_until > leases[1])
        assert wait_for(lambda: taken not in _renewals.keepers)  # lease lost: left alone
        assert Step.objects.get(pk=taken.step_id).claimed_by == "celery@b|w:2|1"
    assert not {first, second} & _renewals.keepers
    stored = Step.objects.get(pk=first.step_id).lease_until
    time.sleep(1.0)  # two renewal intervals: nobody renews an ended task's lease
    assert Step.objects.get(pk=first.step_id).lease_until == stored


def test_a_timer_and_its_resume_are_written_at_once(tenant, publish, settings):
    settings.WEFT_STEP_CONTINUE_MAX = 0
    publish(sequence("nap-after", [
        {"id": "one", "type": "examples.add", "input": {"a": 1, "b": 1}},
        {"id": "wait", "type": "Delay", "duration": 60},
        {"id": "out", "type": "SetOutput", "output": "woke", "value": {"expr": "result"}},
    ], outputs=[{"name": "woke", "type": "string"}]))
    instance = instance_dispatch(tenant=tenant, definition_id="nap-after")
    step_process(step_id=Step.objects.get(instance=instance).id, worker="w")
    task = Step.objects.get(instance=instance, kind=StepKind.TASK)
    with CaptureQueriesContext(connection) as captured:
        assert step_process(step_id=task.id, worker="w") == "done"
    assert len(statements(captured)) == 2 and not locked(captured)
    timer = Bookmark.objects.get(instance=instance)
    assert timer.data["kind"] == "timer" and timer.due_at > timezone.now()
    Bookmark.objects.filter(pk=timer.pk).update(due_at=timezone.now() - timedelta(seconds=1))
    assert timers_fire_due() == 1
    resume = Step.objects.get(instance=instance, kind=StepKind.RESUME)
    with CaptureQueriesContext(connection) as captured:
        assert step_process(step_id=resume.id, worker="w") == "done"
    assert len(statements(captured)) == 2 and not locked(captured)
    instance.refresh_from_db()
    assert instance.status == "finished" and instance.output["woke"]
    assert journal_is_whole(instance) and not Bookmark.objects.filter(instance=instance).exists()


def test_a_wait_any_won_by_its_timer_lets_go_of_the_event_wait(tenant, publish):
    publish({
        "definition_id": "either", "name": "either",
        "root": {"type": "Fork", "id": "fork", "join": "wait_any", "branches": [
            {"type": "Event", "id": "ping", "event": "ping"},
            {"type": "Delay", "id": "nap", "duration": 60},
        ]},
    })
    instance = instance_dispatch(tenant=tenant, definition_id="either")
    drain_steps()  # the event wait goes the locked way (a retained event may wait for it)
    kinds = dict(Bookmark.objects.filter(instance=instance).values_list("name", "data__kind"))
    assert sorted(kinds.values()) == ["event", "timer"]
    Bookmark.objects.filter(instance=instance, data__kind="timer").update(
        due_at=timezone.now() - timedelta(seconds=1))
    assert timers_fire_due() == 1
    resume = Step.objects.get(instance=instance, kind=StepKind.RESUME)
    with CaptureQueriesContext(connection) as captured:
        assert step_process(step_id=resume.id, worker="w") == "done"
    assert not locked(captured)
    instance.refresh_from_db()
    assert instance.status == "finished" and journal_is_whole(instance)
    assert not Bookmark.objects.filter(instance=instance).exists()  # the event wait is gone
    assert not event_publish(tenant=tenant, name="ping")["resumed"]
