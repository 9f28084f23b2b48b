"""Suspend holds (issue 8, hole 2): an operator's `suspend/` stops an instance at the next
activity boundary. A task already running has its result recorded, then nothing else executes
(inline activities included) until `resume/`, which continues from exactly there. Stimuli that
arrive meanwhile (events, bookmark resumes, HTTP requests) are recorded and wait for `resume/`.

Steps are run the way a worker runs them (`step_process`); a task "already running" is one a
worker claimed before the operator suspended (the e2e suite does the same with real workers)."""

import pytest

from tests.integration.execution.conftest import drain_steps, sequence
from workflows.models import ActivityExecution, Bookmark, Step, StepKind, StepStatus
from workflows.services.instances import instance_dispatch
from workflows.services.runner import _claim, _process_claimed, step_process

pytestmark = pytest.mark.django_db


def task_then_inline_then_task() -> dict:
    return sequence("held-chain", [
        {"id": "one", "type": "examples.add", "input": {"a": 1, "b": 1}},
        {"id": "note", "type": "SetVariable", "variable": "seen", "value": "yes"},
        {"id": "two", "type": "examples.add", "input": {"a": 2, "b": 2}},
    ], variables=[{"name": "seen", "type": "string", "default": "no"}])


def executed(instance) -> list[str]:
    return sorted(ActivityExecution.objects.filter(instance=instance)
                  .values_list("activity_id", flat=True))


def test_a_task_result_is_recorded_and_nothing_runs_on_until_resumed(tenant, publish,
                                                                     operator, settings):
    settings.WEFT_STEP_CONTINUE_MAX = 0  # each step waits for its own delivery
    publish(task_then_inline_then_task())
    instance = instance_dispatch(tenant=tenant, definition_id="held-chain")
    step_process(step_id=Step.objects.get(instance=instance).id, worker="w")
    task = Step.objects.get(instance=instance, kind=StepKind.TASK, status=StepStatus.PENDING)
    running = _claim(task.id, "w")  # a worker runs task "one"...
    base = f"/api/v1/instances/{instance.id}"
    assert operator.post(f"{base}/suspend/").status_code == 200  # ...when it is suspended
    assert _process_claimed(running, claim_next_for=None)[0] == "done"

    body = operator.get(f"{base}/").json()
    assert body["status"] == "suspended"
    assert body["variables"] == {"seen": "no"}  # the inline SetVariable did not run
    records = {r["activity_id"]: r["status"]
               for r in operator.get(f"{base}/activity-executions/").json()["results"]}
    assert records["one"] == "completed"  # the running task's result is recorded
    assert "note" not in records and "two" not in records
    for waiting in Step.objects.filter(instance=instance, status=StepStatus.PENDING):
        assert step_process(step_id=waiting.id, worker="w") == "skipped"  # a delivery
    assert executed(instance) == ["main", "one"]
    assert not Step.objects.filter(instance=instance, kind=StepKind.TASK,
                                   task_key__isnull=False).exclude(pk=task.pk).exists()

    assert operator.post(f"{base}/resume/").status_code == 200
    drain_steps()
    body = operator.get(f"{base}/").json()
    assert body["status"] == "finished" and body["variables"] == {"seen": "yes"}
    assert executed(instance) == ["main", "note", "one", "two"]
    starts = [e["activity_id"] for e in operator.get(f"{base}/journal/").json()["results"]
              if e["event"] == "started"]
    assert starts.count("one") == 1 and starts.count("two") == 1


def test_a_step_claimed_before_the_hold_puts_itself_back(tenant, publish, operator):
    publish(task_then_inline_then_task())
    instance = instance_dispatch(tenant=tenant, definition_id="held-chain")
    claimed = _claim(Step.objects.get(instance=instance).id, "w")  # claimed, not yet run
    assert operator.post(f"/api/v1/instances/{instance.id}/suspend/").status_code == 200
    assert _process_claimed(claimed, claim_next_for="w|h|1") == ("held", None)
    assert executed(instance) == []
    step = Step.objects.get(pk=claimed.pk)
    assert (step.status, step.claimed_by) == ("pending", None)
    assert operator.post(f"/api/v1/instances/{instance.id}/resume/").status_code == 200
    drain_steps()
    instance.refresh_from_db()
    assert instance.status == "finished"


def test_a_continuation_claimed_before_the_hold_does_not_run_its_task(tenant, publish,
                                                                      operator):
    publish(task_then_inline_then_task())
    instance = instance_dispatch(tenant=tenant, definition_id="held-chain")
    advance = _claim(Step.objects.get(instance=instance).id, "w")
    outcome, task = _process_claimed(advance, claim_next_for="w|h|1")
    assert outcome == "done" and task.kind == StepKind.TASK  # the worker holds its next step
    assert operator.post(f"/api/v1/instances/{instance.id}/suspend/").status_code == 200
    assert _process_claimed(task, claim_next_for="w|h|1", continued=True) == ("held", None)
    assert ActivityExecution.objects.get(instance=instance, activity_id="one").status == "running"
    operator.post(f"/api/v1/instances/{instance.id}/resume/")
    drain_steps()
    instance.refresh_from_db()
    assert instance.status == "finished"


def waits_for_event() -> dict:
    return sequence("held-wait", [
        {"id": "wait", "type": "Event", "event": "go"},
        {"id": "after", "type": "SetOutput", "output": "got", "value": {"expr": "result"}},
    ], outputs=[{"name": "got", "type": "any"}])


def test_an_event_for_a_held_instance_is_recorded_and_waits_for_resume(tenant, publish,
                                                                       operator):
    publish(waits_for_event())
    instance = instance_dispatch(tenant=tenant, definition_id="held-wait")
    drain_steps()
    base = f"/api/v1/instances/{instance.id}"
    operator.post(f"{base}/suspend/")
    answer = operator.post("/api/v1/events/go/", {"payload": {"n": 1}}, format="json").json()
    assert answer["resumed"] == [str(instance.id)]  # the bookmark is claimed...
    assert not Bookmark.objects.filter(instance=instance).exists()
    resume = Step.objects.get(instance=instance, kind=StepKind.RESUME)
    assert step_process(step_id=resume.id, worker="w") == "skipped"
    assert operator.get(f"{base}/").json()["status"] == "suspended"  # ...and waits
    assert Step.objects.get(pk=resume.pk).status == "pending"
    operator.post(f"{base}/resume/")
    drain_steps()
    body = operator.get(f"{base}/").json()
    assert (body["status"], body["output"]) == ("finished", {"got": {"n": 1}})


def test_a_bookmark_resume_of_a_held_instance_waits_for_resume(tenant, publish, operator):
    publish(waits_for_event())
    instance = instance_dispatch(tenant=tenant, definition_id="held-wait")
    drain_steps()
    base = f"/api/v1/instances/{instance.id}"
    [bookmark] = operator.get(f"{base}/bookmarks/").json()["results"]
    operator.post(f"{base}/suspend/")
    response = operator.post(f"/api/v1/bookmarks/{bookmark['id']}/resume/",
                             {"payload": "by hand"}, format="json")
    assert response.status_code in (200, 202)
    drain_steps()
    assert operator.get(f"{base}/").json()["status"] == "suspended"
    operator.post(f"{base}/resume/")
    drain_steps()
    assert operator.get(f"{base}/").json()["output"] == {"got": "by hand"}


def test_an_http_request_to_a_held_instance_is_recorded_and_waits_for_resume(
        tenant, publish, operator, client):
    publish(sequence("held-hook", [
        {"id": "wait", "type": "HttpEndpoint", "path": "held/approve", "methods": ["POST"]},
        {"id": "after", "type": "SetOutput", "output": "got", "value": {"expr": "result.body"}},
    ], outputs=[{"name": "got", "type": "any"}]))
    instance = instance_dispatch(tenant=tenant, definition_id="held-hook")
    drain_steps()
    base = f"/api/v1/instances/{instance.id}"
    operator.post(f"{base}/suspend/")
    response = client.post(f"/hooks/{tenant.slug}/held/approve", {"ok": True},
                           content_type="application/json")
    assert response.status_code == 202
    assert response.json()["status"] == "suspended"
    assert not Bookmark.objects.filter(instance=instance).exists()
    drain_steps()
    assert operator.get(f"{base}/").json()["status"] == "suspended"
    operator.post(f"{base}/resume/")
    drain_steps()
    body = operator.get(f"{base}/").json()
    assert (body["status"], body["output"]) == ("finished", {"got": {"ok": True}})


def test_retrying_a_held_instance_that_faulted_runs_nothing_until_resume(
        tenant, publish, operator, settings, tmp_path):
    settings.WEFT_STEP_CONTINUE_MAX = 0
    flag = tmp_path / "broken"
    flag.write_text("x")
    publish(sequence("held-fault", [
        {"id": "check", "type": "test.fail_while", "input": {"flag_file": str(flag)}},
        {"id": "note", "type": "SetVariable", "variable": "seen", "value": "yes"},
    ], variables=[{"name": "seen", "type": "string", "default": "no"}]))
    instance = instance_dispatch(tenant=tenant, definition_id="held-fault")
    step_process(step_id=Step.objects.get(instance=instance).id, worker="w")
    running = _claim(Step.objects.get(instance=instance, kind=StepKind.TASK).id, "w")
    base = f"/api/v1/instances/{instance.id}"
    operator.post(f"{base}/suspend/")
    _process_claimed(running, claim_next_for=None)
    assert operator.get(f"{base}/").json()["status"] == "faulted"
    flag.unlink()
    assert operator.post(f"{base}/retry/").status_code == 200
    assert operator.get(f"{base}/").json()["status"] == "suspended"
    drain_steps()
    assert Step.objects.filter(instance=instance, kind=StepKind.TASK).count() == 1
    operator.post(f"{base}/resume/")
    drain_steps()
    body = operator.get(f"{base}/").json()
    assert (body["status"], body["variables"]) == ("finished", {"seen": "yes"})
