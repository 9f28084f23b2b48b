"""Timers, triggers, events and child workflows through their services (no broker: the steps
they schedule are run with `drain_steps`, the way a worker runs them)."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from tests.integration.execution.conftest import drain_steps, sequence
from workflows.models import Bookmark, JournalEntry, Step, TriggerFire, WorkflowInstance
from workflows.services.definitions import definition_delete, definition_retract
from workflows.services.events import event_publish
from workflows.services.inline import instance_execute
from workflows.services.instance_actions import instance_cancel
from workflows.services.instances import instance_dispatch
from workflows.services.timers import timers_fire_due
from workflows.services.triggers import trigger_fire

pytestmark = pytest.mark.django_db


def delay_then_output(definition_id: str = "nap", seconds: int = 60) -> dict:
    return sequence(definition_id, [
        {"id": "wait", "type": "Delay", "duration": seconds},
        {"id": "out", "type": "SetOutput", "output": "woke", "value": {"expr": "result"}},
    ], outputs=[{"name": "woke", "type": "string"}])


def make_due(instance) -> None:
    Bookmark.objects.filter(instance=instance).update(due_at=timezone.now() - timedelta(seconds=1))


def test_delay_is_a_durable_bookmark_that_fires_once(tenant, publish):
    publish(delay_then_output())
    instance = instance_execute(tenant=tenant, definition_id="nap")
    assert instance.status == "suspended"
    bookmark = Bookmark.objects.get(instance=instance)
    assert bookmark.due_at > timezone.now() + timedelta(seconds=50)
    assert timers_fire_due() == 0
    make_due(instance)
    assert timers_fire_due() == 1
    assert timers_fire_due() == 0  # claimed: a second sweep (or beat) finds nothing
    assert drain_steps() == 1
    instance.refresh_from_db()
    assert instance.status == "finished" and instance.output["woke"]


def test_timers_fire_in_batches_each_exactly_once(tenant, publish):
    publish(delay_then_output())
    instances = [instance_execute(tenant=tenant, definition_id="nap") for _ in range(25)]
    Bookmark.objects.update(due_at=timezone.now() - timedelta(seconds=1))
    assert timers_fire_due(batch_size=10) == 25
    assert Step.objects.filter(kind="resume").count() == 25
    drain_steps()
    assert set(WorkflowInstance.objects.filter(pk__in=[i.pk for i in instances])
               .values_list("status", flat=True)) == {"finished"}


def test_cancelling_an_instance_removes_its_timers(tenant, publish):
    publish(delay_then_output())
    instance = instance_execute(tenant=tenant, definition_id="nap")
    instance_cancel(tenant=tenant, instance_id=instance.id)
    make_due(instance)
    assert timers_fire_due() == 0


def cron_triggered(definition_id: str = "nightly") -> dict:
    return sequence(definition_id, [
        {"id": "tick", "type": "Cron", "cron": "*/5 * * * *", "timezone": "Europe/Paris",
         "trigger": True},
        {"id": "out", "type": "SetOutput", "output": "at", "value": {"expr": "result"}},
    ], outputs=[{"name": "at", "type": "string"}])


def test_publishing_a_cron_trigger_creates_a_visible_periodic_task(tenant, user, publish):
    publish(cron_triggered())
    task = PeriodicTask.objects.get(task="weft.fire_trigger")
    assert "Nightly" in task.name or "nightly" in task.name
    assert (task.crontab.minute, str(task.crontab.timezone)) == ("*/5", "Europe/Paris")
    definition_retract(tenant=tenant, user=user, definition_id="nightly")
    assert not PeriodicTask.objects.filter(task="weft.fire_trigger").exists()


def test_deleting_a_definition_removes_its_triggers(tenant, user, publish):
    publish(cron_triggered())
    definition_delete(tenant=tenant, user=user, definition_id="nightly")
    assert not PeriodicTask.objects.filter(task="weft.fire_trigger").exists()


def test_a_cron_slot_starts_one_instance_however_often_it_fires(tenant, publish):
    publish(cron_triggered())
    trigger = PeriodicTask.objects.get(task="weft.fire_trigger").weft_trigger
    now = timezone.now().replace(minute=10, second=0, microsecond=0)
    assert trigger_fire(trigger_id=trigger.pk, now=now + timedelta(seconds=2)) == "started"
    assert trigger_fire(trigger_id=trigger.pk, now=now + timedelta(seconds=3)) == "duplicate"
    assert trigger_fire(trigger_id=trigger.pk, now=now + timedelta(minutes=5)) == "started"
    slots = list(TriggerFire.objects.order_by("scheduled_for").values_list("scheduled_for",
                                                                           flat=True))
    assert [s.minute for s in slots] == [10, 15]
    drain_steps()
    instance = WorkflowInstance.objects.filter(definition_id="nightly").order_by(
        "created_at").first()
    assert instance.status == "finished"
    assert instance.output["at"].startswith(slots[0].isoformat()[:16])


def test_interval_slots_absorb_jitter_and_never_repeat(tenant, publish):
    publish(sequence("every-2s", [{"id": "t", "type": "Timer", "interval": 2, "trigger": True}]))
    trigger = PeriodicTask.objects.get(task="weft.fire_trigger").weft_trigger
    start = timezone.now()
    sends = [0.0, 0.3, 2.01, 3.98, 4.0, 6.2, 7.9]  # beat's sends, two leaders overlapping
    outcomes = [trigger_fire(trigger_id=trigger.pk, now=start + timedelta(seconds=s))
                for s in sends]
    assert outcomes == ["started", "duplicate", "started", "started", "duplicate", "started",
                        "started"]


def test_start_at_trigger_is_a_one_off_clocked_task(tenant, publish):
    at = (timezone.now() + timedelta(hours=1)).replace(microsecond=0)
    publish(sequence("once", [{"id": "s", "type": "StartAt", "at": at.isoformat(),
                               "trigger": True}]))
    task = PeriodicTask.objects.get(task="weft.fire_trigger")
    assert task.one_off and task.clocked.clocked_time == at
    trigger = task.weft_trigger
    assert trigger_fire(trigger_id=trigger.pk, now=at) == "started"
    assert trigger_fire(trigger_id=trigger.pk, now=at + timedelta(seconds=1)) == "duplicate"


def test_singleton_holds_for_triggered_starts(tenant, publish):
    body = sequence("lonely", [
        {"id": "t", "type": "Timer", "interval": 10, "trigger": True},
        {"id": "wait", "type": "Event", "event": "never"},
    ], options={"activation": "singleton"})
    publish(body)
    trigger = PeriodicTask.objects.get(task="weft.fire_trigger").weft_trigger
    now = timezone.now()
    assert trigger_fire(trigger_id=trigger.pk, now=now) == "started"
    drain_steps()
    assert trigger_fire(trigger_id=trigger.pk, now=now + timedelta(seconds=10)) == \
        "activation_conflict"


def test_event_trigger_starts_a_workflow_with_the_payload_as_input(tenant, publish, operator):
    publish(sequence("on-signup", [
        {"id": "signup", "type": "Event", "event": "user-signed-up", "trigger": True},
        {"id": "out", "type": "SetOutput", "output": "email", "value": {"expr": "input.email"}},
        {"id": "raw", "type": "SetOutput", "output": "payload",
         "value": {"expr": "outputs.signup"}},
    ], inputs=[{"name": "email", "type": "string"}],
        outputs=[{"name": "email", "type": "string"}, {"name": "payload", "type": "object"}]))
    result = operator.post("/api/v1/events/user-signed-up/",
                           {"payload": {"email": "a@b.c"}}, format="json").json()
    assert len(result["started"]) == 1 and result["resumed"] == []
    drain_steps()
    instance = WorkflowInstance.objects.get(pk=result["started"][0])
    assert instance.output == {"email": "a@b.c", "payload": {"email": "a@b.c"}}


def waits_for(event: str, definition_id: str = "waiter") -> dict:
    return sequence(definition_id, [
        {"id": "w", "type": "Event", "event": event},
        {"id": "out", "type": "SetOutput", "output": "got", "value": {"expr": "result"}},
    ], outputs=[{"name": "got", "type": "any"}])


def test_retained_event_is_delivered_once_to_the_first_wait(tenant, publish):
    publish(waits_for("paid"))
    result = event_publish(tenant=tenant, name="paid", payload={"n": 1},
                           correlation_id="order-7", retain_seconds=30)
    assert {k: result[k] for k in ("resumed", "started", "retained")} == \
        {"resumed": [], "started": [], "retained": True}
    assert result["reason"]["code"] == "no_waiter" and result["reason"]["retained_seconds"] == 30
    first = instance_execute(tenant=tenant, definition_id="waiter", correlation_id="order-7")
    second = instance_execute(tenant=tenant, definition_id="waiter", correlation_id="order-7")
    drain_steps()
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, first.output) == ("finished", {"got": {"n": 1}})
    assert second.status == "suspended"


def test_retained_event_expires(tenant, publish):
    publish(waits_for("late"))
    event_publish(tenant=tenant, name="late", retain_seconds=1)
    from workflows.models import RetainedEvent

    RetainedEvent.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    instance = instance_execute(tenant=tenant, definition_id="waiter")
    drain_steps()
    instance.refresh_from_db()
    assert instance.status == "suspended"


@pytest.mark.django_db(transaction=True)
def test_hundred_concurrent_identical_events_resume_fifty_instances_once_each(tenant,
                                                                               publish):
    publish(waits_for("go"))
    instances = [instance_execute(tenant=tenant, definition_id="waiter") for _ in range(50)]
    barrier = threading.Barrier(10)
    resumed: list[str] = []
    errors: list[Exception] = []

    def publisher() -> None:
        try:
            barrier.wait()
            for _ in range(10):
                resumed.extend(event_publish(tenant=tenant, name="go",
                                             payload={"ok": True})["resumed"])
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=publisher) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(resumed) == sorted(str(i.id) for i in instances)
    drain_steps()
    for instance in instances:
        instance.refresh_from_db()
        assert instance.status == "finished"
        assert JournalEntry.objects.filter(instance=instance, event="resumed").count() == 1


def test_parent_waits_for_a_child_that_waits_for_an_event(tenant, publish):
    publish(sequence("child", [
        {"id": "w", "type": "Event", "event": "approved"},
        {"id": "o", "type": "SetOutput", "output": "by", "value": {"expr": "result.by"}},
    ], outputs=[{"name": "by", "type": "string"}]))
    publish(sequence("parent", [
        {"id": "call", "type": "ExecuteWorkflow", "definition_id": "child", "wait": True},
        {"id": "o", "type": "SetOutput", "output": "approved_by",
         "value": {"expr": "result.by"}},
    ], outputs=[{"name": "approved_by", "type": "string"}]))
    parent = instance_dispatch(tenant=tenant, definition_id="parent", correlation_id="c-1")
    drain_steps()
    parent.refresh_from_db()
    assert parent.status == "suspended"
    child = WorkflowInstance.objects.get(parent=parent)
    assert child.status == "suspended" and child.correlation_id == "c-1"
    assert event_publish(tenant=tenant, name="approved", payload={"by": "ann"},
                         correlation_id="c-1")["resumed"] == [str(child.id)]
    drain_steps()
    parent.refresh_from_db()
    assert (parent.status, parent.output) == ("finished", {"approved_by": "ann"})


def test_cancelling_a_parent_cancels_its_children(tenant, publish):
    publish(waits_for("never", "child"))
    publish(sequence("parent", [{"id": "call", "type": "ExecuteWorkflow",
                                 "definition_id": "child", "wait": True}]))
    parent = instance_dispatch(tenant=tenant, definition_id="parent")
    drain_steps()
    instance_cancel(tenant=tenant, instance_id=parent.id)
    assert WorkflowInstance.objects.get(parent=parent).status == "cancelled"
