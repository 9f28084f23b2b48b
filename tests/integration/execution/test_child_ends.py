"""A parent waiting on `ExecuteWorkflow` with `wait: true` learns how its child ended, however
it ended (issue 8, hole 7): cancelled (through the API, or by a cancel cascading down), faulted,
or deleted. By default the parent's activity faults with a `child_failed` incident, and a retry
of the parent starts the child again; `child_failure: "outcome"` routes the `failed` outcome
instead."""

import pytest

from tests.integration.execution.conftest import drain_steps, sequence
from workflows.models import WorkflowInstance
from workflows.services.instances import instance_dispatch

pytestmark = pytest.mark.django_db


def child_waiting() -> dict:
    return sequence("kid", [{"id": "wait", "type": "Event", "event": "kid-go"}])


def parent(definition_id: str = "parent", child: str = "kid", **execute) -> dict:
    return sequence(definition_id, [
        {"id": "call", "type": "ExecuteWorkflow", "definition_id": child, "wait": True,
         **execute},
        {"id": "after", "type": "SetOutput", "output": "ended", "value": True},
    ], outputs=[{"name": "ended", "type": "boolean"}])


def started(tenant, publish, *bodies) -> WorkflowInstance:
    for body in bodies:
        publish(body)
    instance = instance_dispatch(tenant=tenant, definition_id=bodies[-1]["definition_id"])
    drain_steps()
    return instance


def child_of(instance) -> WorkflowInstance:
    return WorkflowInstance.objects.filter(parent=instance).order_by("created_at").last()


def status(operator, instance) -> dict:
    return operator.get(f"/api/v1/instances/{instance.id}/").json()


def test_cancelling_a_child_faults_its_waiting_parent_and_retry_starts_it_again(
        tenant, publish, operator):
    top = started(tenant, publish, child_waiting(), parent())
    kid = child_of(top)
    assert status(operator, top)["status"] == "suspended"  # waiting for the child
    assert operator.post(f"/api/v1/instances/{kid.id}/cancel/").status_code == 200
    drain_steps()
    body = status(operator, top)
    assert body["status"] == "faulted"
    assert [i["code"] for i in body["incidents"]] == ["child_failed"]
    assert str(kid.id) in body["incidents"][0]["message"]

    assert operator.post(f"/api/v1/instances/{top.id}/retry/").status_code == 200
    drain_steps()
    again = child_of(top)
    assert again.id != kid.id and again.status == "suspended"
    operator.post("/api/v1/events/kid-go/", {}, format="json")
    drain_steps()
    assert status(operator, top)["status"] == "finished"


def test_a_cancel_cascading_down_wakes_the_waiting_grandparent(tenant, publish, operator):
    top = started(tenant, publish, child_waiting(), parent("middle"),
                  parent("top", child="middle"))
    middle = child_of(top)
    assert child_of(middle).status == "suspended"
    operator.post(f"/api/v1/instances/{middle.id}/cancel/")  # cancels its child too
    drain_steps()
    assert child_of(middle).status == "cancelled"
    body = status(operator, top)
    assert body["status"] == "faulted" and body["incidents"][0]["code"] == "child_failed"


def test_cancelling_the_parent_does_not_fault_it_through_its_child(tenant, publish, operator):
    top = started(tenant, publish, child_waiting(), parent())
    operator.post(f"/api/v1/instances/{top.id}/cancel/")
    drain_steps()
    assert status(operator, top)["status"] == "cancelled"
    assert child_of(top).status == "cancelled"


def test_a_faulted_child_faults_its_parent_with_a_child_failed_incident(tenant, publish,
                                                                      operator):
    top = started(tenant, publish,
                  sequence("bad-kid", [{"id": "no", "type": "test.refuse", "input": {}}]),
                  parent(child="bad-kid"))
    body = status(operator, top)
    assert body["status"] == "faulted" and body["incidents"][0]["code"] == "child_failed"


def test_with_child_failure_outcome_the_parent_routes_the_failure(tenant, publish, operator):
    flow = {"definition_id": "router", "name": "router",
            "outputs": [{"name": "path", "type": "string"}],
            "root": {"type": "Flowchart", "id": "main", "activities": [
                {"id": "call", "type": "ExecuteWorkflow", "definition_id": "kid", "wait": True,
                 "child_failure": "outcome"},
                {"id": "ok", "type": "SetOutput", "output": "path", "value": "ok"},
                {"id": "bad", "type": "SetOutput", "output": "path", "value": "failed"}],
                "connections": [{"source": "call", "target": "ok"},
                                {"source": "call", "outcome": "failed", "target": "bad"}]}}
    top = started(tenant, publish, child_waiting(), flow)
    operator.post(f"/api/v1/instances/{child_of(top).id}/cancel/")
    drain_steps()
    body = status(operator, top)
    assert (body["status"], body["output"]) == ("finished", {"path": "failed"})


def test_deleting_a_child_a_parent_still_waits_on_wakes_the_parent(tenant, publish, operator):
    top = started(tenant, publish, child_waiting(), parent())
    kid = child_of(top)
    # A child that ended without telling its parent (as before this fix).
    WorkflowInstance.objects.filter(pk=kid.pk).update(status="cancelled")
    assert operator.delete(f"/api/v1/instances/{kid.id}/").status_code == 204
    drain_steps()
    body = status(operator, top)
    assert body["status"] == "faulted" and body["incidents"][0]["code"] == "child_failed"
    assert "deleted" in body["incidents"][0]["message"]
