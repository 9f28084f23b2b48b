"""Starts and the per-definition start lock (issue 8, hole 8): only singleton activations
take it, never across an inline run (user activities, HTTP calls), and definitions that start
each other as children cannot deadlock. Real threads, real transactions, the REST API."""

import threading
import uuid

import pytest
from django.db import connection
from django.test import Client

from tests.conftest import client_for
from tests.factories import MembershipFactory
from tests.integration.execution.conftest import sequence
from tests.support.activities import gate_reached, open_gate
from workflows.models import Step, WorkflowInstance
from workflows.services import inline
from workflows.services.instance_actions import instance_hold, instance_release

pytestmark = pytest.mark.django_db(transaction=True)

SLOW = 20  # seconds a thread may take at most; a hang fails the test instead of the suite


def gated(definition_id: str, *, activation: str = "always", extra: list | None = None) -> dict:
    """A definition whose first activity waits on the gate named by `input.gate`."""
    return sequence(definition_id, [
        {"id": "wait", "type": "test.gate", "input": {"name": {"expr": "input.gate"}}},
        *(extra or []),
        {"id": "out", "type": "SetOutput", "output": "done", "value": True},
    ], inputs=[{"name": "gate", "type": "string", "default": ""},
               {"name": "spawn", "type": "boolean", "default": False}],
        outputs=[{"name": "done", "type": "boolean"}],
        options={"activation": activation})


class Call(threading.Thread):
    """One HTTP call in its own thread (its own database connection and transaction)."""

    def __init__(self, send) -> None:
        super().__init__(daemon=True)
        self.send = send
        self.response = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.response = self.send()
        except BaseException as exc:  # reported by the test
            self.error = exc
        finally:
            connection.close()


def operator_client(tenant):
    return client_for(MembershipFactory(tenant=tenant, role="operator").user)


def start(call_of) -> Call:
    call = Call(call_of)
    call.start()
    return call


def execute(client, definition_id: str, **body):
    return lambda: client.post(f"/api/v1/definitions/{definition_id}/execute/", body,
                               format="json")


def dispatch(client, definition_id: str, **body):
    return lambda: client.post(f"/api/v1/definitions/{definition_id}/dispatch/", body,
                               format="json")


def finished(call: Call) -> Call:
    call.join(SLOW)
    assert not call.is_alive(), "the call did not answer"
    assert call.error is None, call.error
    return call


def test_executes_of_an_always_definition_run_in_parallel(tenant, publish):
    publish(gated("parallel"))
    gate = f"g-{uuid.uuid4()}"
    blocked = start(execute(operator_client(tenant), "parallel", input={"gate": gate}))
    try:
        assert gate_reached(gate).wait(SLOW)
        # The first execute/ is inside its user activity, in its transaction: a second one
        # of the same definition completes meanwhile.
        second = start(execute(operator_client(tenant), "parallel", input={"gate": ""}))
        second.join(5)
        assert not second.is_alive(), "the second execute/ waited for the first one"
        assert second.response.status_code == 200
        assert second.response.json()["status"] == "finished"
        assert blocked.is_alive()
    finally:
        open_gate(gate)
    assert finished(blocked).response.json()["status"] == "finished"


def test_a_singleton_execute_does_not_hold_the_start_lock_through_its_inline_run(
        tenant, publish):
    publish(gated("single", activation="singleton"))
    gate = f"g-{uuid.uuid4()}"
    blocked = start(execute(operator_client(tenant), "single", input={"gate": gate}))
    try:
        assert gate_reached(gate).wait(SLOW)
        # The running instance is already committed (visible), and another start is refused
        # at once instead of waiting for the first run to end.
        running = WorkflowInstance.objects.get(definition_id="single")
        assert running.status == "running"
        second = start(dispatch(operator_client(tenant), "single"))
        second.join(5)
        assert not second.is_alive(), "the second start waited for the first run"
        assert second.response.status_code == 409
        assert second.response.json()["error"]["code"] == "activation_conflict"
    finally:
        open_gate(gate)
    answer = finished(blocked).response
    assert answer.status_code == 200 and answer.json()["status"] == "finished"
    assert answer.json()["id"] == str(running.id)
    # Ended: the singleton may start again.
    assert finished(start(dispatch(operator_client(tenant), "single"))).response.status_code \
        == 202


def test_a_singleton_hook_run_does_not_hold_the_start_lock(tenant, publish):
    publish(sequence("hooked", [
        {"id": "in", "type": "HttpEndpoint", "path": "/gated/{gate}", "methods": ["POST"],
         "trigger": True},
        {"id": "wait", "type": "test.gate", "input": {"name": {"expr": "result.route.gate"}}},
        {"id": "answer", "type": "WriteHttpResponse", "status": 200, "body": "ok"},
    ], options={"activation": "singleton"}))
    gate = f"g-{uuid.uuid4()}"
    blocked = start(lambda: Client().post(f"/hooks/acme/gated/{gate}"))
    try:
        assert gate_reached(gate).wait(SLOW)
        second = start(dispatch(operator_client(tenant), "hooked"))
        second.join(5)
        assert not second.is_alive(), "a start waited for the hook's run"
        assert second.response.status_code == 409
    finally:
        open_gate(gate)
    assert finished(blocked).response.status_code == 200


def test_two_definitions_starting_each_other_as_children_do_not_deadlock(tenant, publish):
    def spawner(definition_id: str, other: str) -> dict:
        return gated(definition_id, extra=[
            {"id": "child", "type": "If", "condition": {"expr": "input.spawn"},
             "then": {"id": "start", "type": "ExecuteWorkflow", "definition_id": other,
                      "input": {"spawn": False}, "wait": True}},
        ])

    publish(spawner("ping", "pong"))
    publish(spawner("pong", "ping"))
    gates = {name: f"{name}-{uuid.uuid4()}" for name in ("ping", "pong")}
    calls = {name: start(execute(operator_client(tenant), name,
                                 input={"gate": gates[name], "spawn": True}))
             for name in ("ping", "pong")}
    # Both runs are inside their first activity (each has started its own instance) before
    # either starts its child: the interleaving that deadlocked.
    assert all(gate_reached(gate).wait(SLOW) for gate in gates.values())
    for gate in gates.values():
        open_gate(gate)
    for call in calls.values():
        response = finished(call).response
        assert response.status_code == 200, response.content
        assert response.json()["status"] == "finished"
    assert WorkflowInstance.objects.filter(status="finished").count() == 4


def test_concurrent_singleton_starts_never_both_succeed(tenant, publish):
    publish(gated("only-one", activation="singleton"))
    barrier = threading.Barrier(6)
    clients = [operator_client(tenant) for _ in range(6)]

    def racer(client):
        def send():
            barrier.wait()
            return client.post("/api/v1/definitions/only-one/dispatch/", {}, format="json")
        return send

    calls = [start(racer(client)) for client in clients]
    codes = sorted(finished(call).response.status_code for call in calls)
    assert codes == [202, 409, 409, 409, 409, 409]
    assert WorkflowInstance.objects.filter(definition_id="only-one").count() == 1


def test_two_singletons_starting_each_other_as_children_answer_without_deadlock(tenant,
                                                                                publish):
    def spawner(definition_id: str, other: str) -> dict:
        return gated(definition_id, activation="singleton", extra=[
            {"id": "child", "type": "If", "condition": {"expr": "input.spawn"},
             "then": {"id": "start", "type": "ExecuteWorkflow", "definition_id": other,
                      "input": {"spawn": False}, "wait": False}},
        ])

    publish(spawner("solo-ping", "solo-pong"))
    publish(spawner("solo-pong", "solo-ping"))
    gates = {name: f"{name}-{uuid.uuid4()}" for name in ("solo-ping", "solo-pong")}
    calls = {name: start(execute(operator_client(tenant), name,
                                 input={"gate": gates[name], "spawn": True}))
             for name in gates}
    assert all(gate_reached(gate).wait(SLOW) for gate in gates.values())
    for gate in gates.values():
        open_gate(gate)
    # A child start that finds the other singleton active (or starting) is a clear conflict,
    # never a wait; whichever answers first may have let the other's child start.
    codes = []
    for call in calls.values():
        response = finished(call).response
        codes.append(response.status_code)
        if response.status_code == 409:
            assert response.json()["error"]["code"] == "activation_conflict"
        else:
            assert response.status_code == 200, response.content
    assert 409 in codes
    # A refused synchronous start leaves no instance of its own behind.
    assert WorkflowInstance.objects.count() == 2 * codes.count(200)


def test_a_singleton_held_between_its_commit_and_its_run_waits_for_release(tenant, publish,
                                                                           monkeypatch):
    publish(gated("held-single", activation="singleton"))
    real_lock = inline.instance_lock

    def hold_first(tenant_, instance_id):
        instance_hold(tenant=tenant_, instance_id=instance_id)  # an operator, just in time
        return real_lock(tenant_, instance_id)

    monkeypatch.setattr(inline, "instance_lock", hold_first)
    response = execute(operator_client(tenant), "held-single")()
    assert response.status_code == 200 and response.json()["status"] == "suspended"
    step = Step.objects.get(instance_id=response.json()["id"])
    assert step.status == "pending" and step.claimed_by is None
    instance_release(tenant=tenant, instance_id=response.json()["id"])
