"""A poison step that is not a task (an advance or a resume whose worker died each time)
faults its instance through the engine, with an incident, so that the instance's row and its
engine state agree and every operator action works on it: retry, cancel, dead-letter re-drive
(issue 8, hole 6)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.integration.execution.conftest import drain_steps, sequence
from workflows.models import DeadLetter, Step, StepKind, StepStatus
from workflows.services.instances import instance_dispatch
from workflows.services.sweeper import steps_sweep

pytestmark = pytest.mark.django_db


def poisoned_advance(tenant, publish):
    """An instance whose first (advance) step killed three workers in a row."""
    publish(sequence("inline-only", [
        {"id": "set", "type": "SetOutput", "output": "done", "value": True}],
        outputs=[{"name": "done", "type": "boolean"}]))
    instance = instance_dispatch(tenant=tenant, definition_id="inline-only")
    step = Step.objects.get(instance=instance)
    Step.objects.filter(pk=step.pk).update(status=StepStatus.RUNNING, deliveries=3,
                                           lease_until=timezone.now() - timedelta(seconds=1))
    assert steps_sweep()["dead"] == 1
    return instance, step


def test_a_poison_advance_faults_the_instance_with_an_incident(tenant, publish, operator):
    instance, _ = poisoned_advance(tenant, publish)
    body = operator.get(f"/api/v1/instances/{instance.id}/").json()
    assert body["status"] == "faulted"
    assert [i["code"] for i in body["incidents"]] == ["poison_step"]
    instance.refresh_from_db()
    assert instance.state["status"] == "faulted"  # the engine agrees with the row
    events = [e["event"] for e in operator.get(
        f"/api/v1/instances/{instance.id}/journal/").json()["results"]]
    assert "workflow_faulted" in events


def test_a_poison_advance_can_be_retried(tenant, publish, operator):
    instance, _ = poisoned_advance(tenant, publish)
    assert operator.post(f"/api/v1/instances/{instance.id}/retry/").status_code == 200
    drain_steps()
    body = operator.get(f"/api/v1/instances/{instance.id}/").json()
    assert (body["status"], body["output"]) == ("finished", {"done": True})


def test_a_poison_advance_can_be_cancelled(tenant, publish, operator):
    instance, _ = poisoned_advance(tenant, publish)
    response = operator.post(f"/api/v1/instances/{instance.id}/cancel/")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"


def test_a_poison_advance_can_be_redriven_from_its_dead_letter(tenant, publish, operator):
    instance, step = poisoned_advance(tenant, publish)
    letter = DeadLetter.objects.create(
        tenant=tenant, step=step, instance=instance, queue="workflow-tasks-dlq",
        message_id="m-1", task_name="weft.run_step", body={"args": [str(step.id)]},
        receive_count=3, received_at=timezone.now())
    response = operator.post(f"/api/v1/dead-letters/{letter.id}/redrive/")
    assert response.status_code == 200
    drain_steps()
    assert operator.get(f"/api/v1/instances/{instance.id}/").json()["status"] == "finished"


def test_a_poison_resume_is_run_again_by_a_retry(tenant, publish, operator):
    publish(sequence("wait-go", [
        {"id": "wait", "type": "Event", "event": "go"},
        {"id": "after", "type": "SetOutput", "output": "got", "value": {"expr": "result"}}],
        outputs=[{"name": "got", "type": "any"}]))
    instance = instance_dispatch(tenant=tenant, definition_id="wait-go")
    drain_steps()
    operator.post("/api/v1/events/go/", {"payload": 7}, format="json")
    resume = Step.objects.get(instance=instance, kind=StepKind.RESUME)
    Step.objects.filter(pk=resume.pk).update(status=StepStatus.RUNNING, deliveries=3,
                                             lease_until=timezone.now() - timedelta(seconds=1))
    assert steps_sweep()["dead"] == 1
    assert operator.get(f"/api/v1/instances/{instance.id}/").json()["status"] == "faulted"
    assert operator.post(f"/api/v1/instances/{instance.id}/retry/").status_code == 200
    drain_steps()
    body = operator.get(f"/api/v1/instances/{instance.id}/").json()
    assert (body["status"], body["output"]) == ("finished", {"got": 7})
