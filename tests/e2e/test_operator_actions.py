"""Operator actions against a running fleet (issue 8, holes 2, 3, 5 and 7): real web, worker
and beat processes over the local SQS server; the test drives only the REST API and reads the
database to know when a worker is in the middle of a task."""

import time

import pytest

from tests.e2e.conftest import publish_definition
from tests.e2e.support.platform import start_worker, stop_all, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def workers(e2e_env):
    started = [start_worker(e2e_env, "ops-w1"), start_worker(e2e_env, "ops-w2")]
    try:
        yield started
    finally:
        stop_all(started)


def task_steps(instance_id, activity_id: str):
    from workflows.models import Step

    return list(Step.objects.filter(instance_id=instance_id, kind="task",
                                    payload__activity_id=activity_id).order_by("attempt"))


def running(instance_id, activity_id: str) -> bool:
    return any(s.status == "running" for s in task_steps(instance_id, activity_id))


def records(api, instance_id) -> dict:
    return {r["activity_id"]: r["status"] for r in
            api.get(f"/instances/{instance_id}/activity-executions/").json()["results"]}


def status_of(api, instance_id) -> str:
    return api.get(f"/instances/{instance_id}/").json()["status"]


def test_suspend_holds_after_the_running_task_until_resume(make_tenant, workers, beat):
    _, api = make_tenant()
    publish_definition(api, {
        "definition_id": "hold-me", "name": "hold-me",
        "variables": [{"name": "seen", "type": "string", "default": "no"}],
        "root": {"type": "Sequence", "id": "main", "activities": [
            {"id": "slow", "type": "test.sleep", "input": {"seconds": 3}},
            {"id": "note", "type": "SetVariable", "variable": "seen", "value": "yes"},
            {"id": "next", "type": "examples.add", "input": {"a": 1, "b": 2}}]},
    })
    instance_id = api.post("/definitions/hold-me/dispatch/").json()["id"]
    wait_until(lambda: running(instance_id, "slow"), timeout=30, what="the task running")
    assert api.post(f"/instances/{instance_id}/suspend/").status_code == 200
    wait_until(lambda: records(api, instance_id).get("slow") == "completed", timeout=30,
               what="the running task's result recorded")
    time.sleep(4)  # time enough for the workers and the sweeper to run on, were it not held
    body = api.get(f"/instances/{instance_id}/").json()
    assert body["status"] == "suspended" and body["variables"] == {"seen": "no"}
    assert set(records(api, instance_id)) == {"main", "slow"}

    assert api.post(f"/instances/{instance_id}/resume/").status_code == 200
    wait_until(lambda: status_of(api, instance_id) == "finished", timeout=30,
               what="the instance finished after resume")
    body = api.get(f"/instances/{instance_id}/").json()
    assert body["variables"] == {"seen": "yes"}
    starts = [e["activity_id"] for e in api.get(f"/instances/{instance_id}/journal/")
              .json()["results"] if e["event"] == "started"]
    assert starts.count("slow") == 1 and starts.count("next") == 1


def test_retry_after_a_branch_faulted_reissues_the_discarded_tasks(make_tenant, workers, beat,
                                                                   tmp_path):
    _, api = make_tenant()
    flag = tmp_path / "broken"
    flag.write_text("x")
    publish_definition(api, {
        "definition_id": "three-ways", "name": "three-ways",
        "outputs": [{"name": "sum", "type": "number"}],
        "root": {"type": "Sequence", "id": "main", "activities": [
            {"type": "Fork", "id": "fork", "join": "wait_all", "branches": [
                {"type": "test.fail_while", "id": "bad", "input": {"flag_file": str(flag)}},
                {"type": "test.sleep", "id": "left", "input": {"seconds": 2}},
                {"type": "test.sleep", "id": "right", "input": {"seconds": 2}}]},
            {"type": "SetOutput", "id": "out", "output": "sum", "value": 3}]},
    })
    instance_id = api.post("/definitions/three-ways/dispatch/").json()["id"]
    wait_until(lambda: status_of(api, instance_id) == "faulted", timeout=30,
               what="the bad branch faulting the instance")
    wait_until(lambda: all(s.status == "cancelled" for a in ("left", "right")
                           for s in task_steps(instance_id, a)),
               timeout=30, what="the other branches' results discarded")
    flag.unlink()
    assert api.post(f"/instances/{instance_id}/retry/").status_code == 200
    wait_until(lambda: status_of(api, instance_id) == "finished", timeout=60,
               what="the retried instance finished")
    assert api.get(f"/instances/{instance_id}/").json()["output"] == {"sum": 3}
    for activity_id in ("left", "right"):
        assert [s.status for s in task_steps(instance_id, activity_id)] == ["cancelled", "done"]


def test_a_task_failing_after_cancel_starts_no_retry(make_tenant, workers, beat):
    _, api = make_tenant()
    publish_definition(api, {
        "definition_id": "doomed", "name": "doomed",
        "root": {"type": "Sequence", "id": "main", "activities": [
            {"id": "try", "type": "test.slow_fail", "input": {"seconds": 2}}]},
    })
    instance_id = api.post("/definitions/doomed/dispatch/").json()["id"]
    wait_until(lambda: running(instance_id, "try"), timeout=30, what="the task running")
    assert api.post(f"/instances/{instance_id}/cancel/").status_code == 200
    time.sleep(6)  # the task fails meanwhile; a retry would be due after 1 s
    steps = task_steps(instance_id, "try")
    assert [(s.attempt, s.status) for s in steps] == [(1, "cancelled")]
    assert status_of(api, instance_id) == "cancelled"


def test_a_held_instances_task_retry_waits_for_resume(make_tenant, workers, beat):
    _, api = make_tenant()
    publish_definition(api, {
        "definition_id": "flaky-held", "name": "flaky-held",
        "root": {"type": "Sequence", "id": "main", "activities": [
            {"id": "try", "type": "test.flaky", "input": {"fail_times": 1, "sleep": 2},
             "retry": {"max_attempts": 3, "initial_interval": 1, "max_interval": 1}}]},
    })
    instance_id = api.post("/definitions/flaky-held/dispatch/").json()["id"]
    wait_until(lambda: running(instance_id, "try"), timeout=30, what="attempt 1 running")
    assert api.post(f"/instances/{instance_id}/suspend/").status_code == 200
    wait_until(lambda: len(task_steps(instance_id, "try")) == 2, timeout=30,
               what="attempt 1 failing and its retry scheduled")
    time.sleep(4)  # the retry is due after 1 s: the sweeper would publish it, were it not held
    steps = task_steps(instance_id, "try")
    assert [(s.attempt, s.status) for s in steps] == [(1, "done"), (2, "pending")]
    assert status_of(api, instance_id) == "suspended"
    assert api.post(f"/instances/{instance_id}/resume/").status_code == 200
    wait_until(lambda: status_of(api, instance_id) == "finished", timeout=60,
               what="the instance finished after resume")
    assert [s.status for s in task_steps(instance_id, "try")] == ["done", "done"]


def test_cancelling_a_child_wakes_its_waiting_parent(make_tenant, workers, beat):
    _, api = make_tenant()
    publish_definition(api, {
        "definition_id": "kid", "name": "kid",
        "root": {"type": "Sequence", "id": "main", "activities": [
            {"id": "w", "type": "Event", "event": "kid-go"}]},
    })
    publish_definition(api, {
        "definition_id": "mum", "name": "mum",
        "root": {"type": "Sequence", "id": "main", "activities": [
            {"id": "call", "type": "ExecuteWorkflow", "definition_id": "kid", "wait": True}]},
    })
    parent_id = api.post("/definitions/mum/dispatch/", {"correlation_id": "c-1"}).json()["id"]

    def waiting_child():
        found = api.get("/instances/", definition_id="kid", status="suspended").json()
        return found["results"][0]["id"] if found["results"] else None

    child_id = wait_until(waiting_child, timeout=30, what="the child waiting")
    assert api.post(f"/instances/{child_id}/cancel/").status_code == 200
    wait_until(lambda: status_of(api, parent_id) == "faulted", timeout=30,
               what="the parent learning its child was cancelled")
    incidents = api.get(f"/instances/{parent_id}/").json()["incidents"]
    assert [i["code"] for i in incidents] == ["child_failed"]

    assert api.post(f"/instances/{parent_id}/retry/").status_code == 200
    wait_until(lambda: waiting_child() not in (None, child_id), timeout=30,
               what="a new child waiting")
    api.post("/events/kid-go/", {"correlation_id": "c-1"})
    wait_until(lambda: status_of(api, parent_id) == "finished", timeout=30,
               what="the parent finished")
