"""A timed-out user activity is stopped before its retry starts, on a real worker (issue 8,
hole 12), and what it logs carries its step and instance ids. Real web, worker, beat and
local SQS; nothing mocked."""

import json
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import publish_definition
from tests.e2e.support.platform import start_worker, stop_all, wait_until
from tests.e2e.support.workers import read_log

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_a_timed_out_activity_stops_before_its_retry_and_logs_with_its_ids(
        make_tenant, e2e_env, beat, tmp_path):
    from workflows.models import Step, WorkflowInstance

    worker = start_worker(e2e_env, "timeouts")
    try:
        _, api = make_tenant()
        publish_definition(api, {
            "definition_id": "runaway", "name": "runaway",
            "root": {"type": "Sequence", "id": "main", "activities": [
                {"type": "test.tick", "id": "tick", "timeout": 2,
                 "input": {"directory": str(tmp_path), "seconds": 8}}]},
        })
        instance_id = api.post("/definitions/runaway/dispatch/").json()["id"]
        # Both attempts time out; the instance faults.
        wait_until(lambda: WorkflowInstance.objects.get(pk=instance_id).status == "faulted",
                   timeout=60, what="the instance faulted after two timeouts")
        time.sleep(2.5)  # a runaway attempt would still be ticking now

        def markers(attempt: int) -> list[float]:
            return sorted(float(p.read_text()) for p in Path(tmp_path).glob(f"{attempt}-*"))

        first, second = markers(1), markers(2)
        assert first and second, (first, second)
        assert len(first) <= 3 and len(second) <= 3, (first, second)  # 2 s timeout each
        assert max(first) < min(second)  # attempt 1 wrote nothing once attempt 2 ran
        steps = {s.attempt: s for s in Step.objects.filter(instance_id=instance_id,
                                                            kind="task")}
        assert set(steps) == {1, 2}
        assert "TimeoutError" in json.dumps(steps[1].error), steps[1].error

        ticks = [json.loads(line) for line in read_log(worker).splitlines()
                 if line.startswith("{") and '"tick ' in line]
        assert ticks, read_log(worker)[-3000:]
        assert {t.get("instance_id") for t in ticks} == {instance_id}
        assert {t.get("step_id") for t in ticks} == {str(steps[1].id), str(steps[2].id)}
    finally:
        stop_all([worker])
