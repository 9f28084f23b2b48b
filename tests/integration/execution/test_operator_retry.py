"""An operator's `retry/` of a faulted instance re-issues every task still outstanding, so the
retried instance can finish (issue 8, hole 3): tasks of other branches that ran while the
instance was faulted had their results discarded."""

import pytest

from tests.integration.execution.conftest import drain_steps
from workflows.models import Step, StepKind, StepStatus
from workflows.services.instances import instance_dispatch
from workflows.services.runner import step_process

pytestmark = pytest.mark.django_db


def three_branches(flag_file: str) -> dict:
    return {
        "definition_id": "three", "name": "three",
        "outputs": [{"name": "sum", "type": "number"}],
        "root": {"type": "Sequence", "id": "main", "activities": [
            {"type": "Fork", "id": "fork", "join": "wait_all", "branches": [
                {"type": "test.fail_while", "id": "bad", "input": {"flag_file": flag_file}},
                {"type": "examples.add", "id": "left", "input": {"a": 1, "b": 2}},
                {"type": "examples.add", "id": "right", "input": {"a": 10, "b": 20}},
            ]},
            {"type": "SetOutput", "id": "out", "output": "sum",
             "value": {"expr": "outputs.left + outputs.right"}},
        ]},
    }


def test_retry_reissues_the_tasks_whose_results_were_discarded(tenant, publish, operator,
                                                               settings, tmp_path):
    settings.WEFT_STEP_CONTINUE_MAX = 0  # every branch waits for its own delivery
    flag = tmp_path / "broken"
    flag.write_text("x")
    publish(three_branches(str(flag)))
    instance = instance_dispatch(tenant=tenant, definition_id="three")
    step_process(step_id=Step.objects.get(instance=instance).id, worker="w")
    tasks = {s.payload["activity_id"]: s for s in Step.objects.filter(instance=instance,
                                                                      kind=StepKind.TASK)}
    assert step_process(step_id=tasks["bad"].id, worker="w") == "done"
    base = f"/api/v1/instances/{instance.id}"
    assert operator.get(f"{base}/").json()["status"] == "faulted"
    # The other branches' tasks ran meanwhile; the faulted instance discarded their results.
    assert step_process(step_id=tasks["left"].id, worker="w") == "discarded"
    assert step_process(step_id=tasks["right"].id, worker="w") == "discarded"

    flag.unlink()  # the operator fixes the cause...
    assert operator.post(f"{base}/retry/").status_code == 200  # ...and retries
    drain_steps()
    body = operator.get(f"{base}/").json()
    assert (body["status"], body["output"]) == ("finished", {"sum": 33})
    assert not Step.objects.filter(instance=instance, status__in=[StepStatus.PENDING,
                                                                  StepStatus.RUNNING]).exists()
    left = Step.objects.filter(instance=instance, payload__activity_id="left")
    assert sorted(left.values_list("attempt", "status")) == [(1, "cancelled"), (2, "done")]


def test_retry_leaves_a_task_still_pending_to_its_step(tenant, publish, operator, settings,
                                                       tmp_path):
    settings.WEFT_STEP_CONTINUE_MAX = 0
    flag = tmp_path / "broken"
    flag.write_text("x")
    publish(three_branches(str(flag)))
    instance = instance_dispatch(tenant=tenant, definition_id="three")
    step_process(step_id=Step.objects.get(instance=instance).id, worker="w")
    bad = Step.objects.get(instance=instance, payload__activity_id="bad")
    step_process(step_id=bad.id, worker="w")
    flag.unlink()
    assert operator.post(f"/api/v1/instances/{instance.id}/retry/").status_code == 200
    drain_steps()
    assert operator.get(f"/api/v1/instances/{instance.id}/").json()["status"] == "finished"
    for activity_id in ("left", "right"):  # their first steps were still pending: no copies
        assert Step.objects.filter(instance=instance, payload__activity_id=activity_id
                                   ).count() == 1
