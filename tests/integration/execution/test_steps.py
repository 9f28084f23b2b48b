"""The worker path through its public entry points (`instance_dispatch`, `step_process`,
`steps_sweep`), without a broker: the e2e suite covers real workers and SQS."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests.integration.execution.conftest import drain_steps, sequence
from workflows.models import Step, StepKind, StepStatus, WorkflowInstance
from workflows.services.instance_actions import instance_hold, instance_release, instance_retry
from workflows.services.instances import instance_dispatch
from workflows.services.poison import PoisonStep
from workflows.services.runner import step_process
from workflows.services.sweeper import steps_sweep

pytestmark = pytest.mark.django_db


def fork_of_tasks(definition_id: str = "fan-out") -> dict:
    return {
        "definition_id": definition_id, "name": definition_id,
        "outputs": [{"name": "sum", "type": "number"}],
        "root": {"type": "Sequence", "id": "main", "activities": [
            {"type": "Fork", "id": "fork", "join": "wait_all", "branches": [
                {"type": "examples.add", "id": "left", "input": {"a": 1, "b": 2}},
                {"type": "examples.add", "id": "right", "input": {"a": 10, "b": 20}},
            ]},
            {"type": "SetOutput", "id": "out", "output": "sum",
             "value": {"expr": "outputs.left + outputs.right"}},
        ]},
    }


def test_dispatch_writes_the_instance_and_its_first_step(tenant, publish):
    publish(fork_of_tasks())
    instance = instance_dispatch(tenant=tenant, definition_id="fan-out")
    assert instance.status == "pending"
    [step] = Step.objects.filter(instance=instance)
    assert (step.kind, step.status, step.published_at is not None) == ("run", "pending", True)


def test_fork_branch_tasks_become_separate_steps_and_the_join_waits(tenant, publish):
    publish(fork_of_tasks())
    instance = instance_dispatch(tenant=tenant, definition_id="fan-out")
    first = Step.objects.get(instance=instance)
    assert step_process(step_id=first.id, worker="w1") == "done"
    tasks = Step.objects.filter(instance=instance, kind=StepKind.TASK)
    assert sorted(s.payload["activity_id"] for s in tasks) == ["left", "right"]
    assert WorkflowInstance.objects.get(pk=instance.pk).status == "running"
    drain_steps()
    instance.refresh_from_db()
    assert (instance.status, instance.output) == ("finished", {"sum": 33})
    assert set(Step.objects.filter(instance=instance).values_list("status", flat=True)) == {
        "done"}


def test_a_done_step_is_skipped_when_delivered_again(tenant, publish):
    publish(fork_of_tasks())
    instance = instance_dispatch(tenant=tenant, definition_id="fan-out")
    drain_steps()
    for step in Step.objects.filter(instance=instance):
        assert step_process(step_id=step.id, worker="late") == "skipped"
    instance.refresh_from_db()
    assert instance.output == {"sum": 33}


def test_a_step_running_under_a_live_lease_is_not_claimed_twice(tenant, publish):
    publish(fork_of_tasks())
    instance = instance_dispatch(tenant=tenant, definition_id="fan-out")
    step = Step.objects.get(instance=instance)
    Step.objects.filter(pk=step.pk).update(status=StepStatus.RUNNING, claimed_by="other",
                                           lease_until=timezone.now() + timedelta(minutes=1))
    assert step_process(step_id=step.id, worker="me") == "skipped"
    Step.objects.filter(pk=step.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
    assert step_process(step_id=step.id, worker="me") == "done"


def test_failed_task_retries_as_new_steps_with_backoff_then_succeeds(tenant, publish):
    publish(sequence("flaky", [
        {"id": "try", "type": "test.flaky", "input": {"fail_times": 2}},
        {"id": "out", "type": "SetOutput", "output": "attempt",
         "value": {"expr": "result.attempt"}},
    ], outputs=[{"name": "attempt", "type": "integer"}]))
    instance = instance_dispatch(tenant=tenant, definition_id="flaky")
    for _ in range(10):
        drain_steps()
        Step.objects.filter(instance=instance, status=StepStatus.PENDING).update(
            run_after=timezone.now())  # the backoff has passed
        if not Step.objects.filter(instance=instance, status=StepStatus.PENDING).exists():
            break
    instance.refresh_from_db()
    assert (instance.status, instance.output) == ("finished", {"attempt": 3})
    attempts = list(Step.objects.filter(instance=instance, kind=StepKind.TASK)
                    .order_by("attempt").values_list("attempt", "error"))
    assert [a for a, _ in attempts] == [1, 2, 3]
    assert attempts[0][1]["type"] == "RuntimeError" and attempts[2][1] is None


def test_retry_steps_wait_in_the_database_until_due(tenant, publish):
    publish(sequence("slow-retry", [{"id": "try", "type": "test.flaky",
                                     "input": {"fail_times": 1}}]))
    instance = instance_dispatch(tenant=tenant, definition_id="slow-retry")
    drain_steps()
    retry = Step.objects.get(instance=instance, kind=StepKind.TASK, attempt=2)
    assert retry.status == "pending" and retry.published_at is None
    Step.objects.filter(pk=retry.pk).update(run_after=timezone.now() + timedelta(hours=1))
    assert steps_sweep()["published"] == 0
    Step.objects.filter(pk=retry.pk).update(run_after=timezone.now())
    assert steps_sweep()["published"] == 1


def test_non_retryable_error_faults_and_retry_after_fix_finishes(tenant, publish):
    publish(sequence("refuser", [{"id": "no", "type": "test.refuse", "input": {}}]))
    instance = instance_dispatch(tenant=tenant, definition_id="refuser")
    drain_steps()
    instance.refresh_from_db()
    assert instance.status == "faulted"
    assert Step.objects.filter(instance=instance, kind=StepKind.TASK).count() == 1


def test_sweeper_revives_a_step_whose_worker_died(tenant, publish):
    publish(fork_of_tasks())
    instance = instance_dispatch(tenant=tenant, definition_id="fan-out")
    step = Step.objects.get(instance=instance)
    Step.objects.filter(pk=step.pk).update(status=StepStatus.RUNNING, deliveries=1,
                                           lease_until=timezone.now() - timedelta(seconds=1))
    assert steps_sweep()["revived"] == 1
    drain_steps()
    instance.refresh_from_db()
    assert instance.status == "finished"


def test_a_step_delivered_too_often_is_poison_then_retry_finishes(tenant, publish, tmp_path,
                                                                   settings):
    settings.WEFT_STEP_CONTINUE_MAX = 0  # the task step stays for the "dying" workers
    flag = tmp_path / "poison"
    publish(sequence("poisoned", [
        {"id": "p", "type": "test.poison", "input": {"flag_file": str(flag)}},
    ]))
    instance = instance_dispatch(tenant=tenant, definition_id="poisoned")
    step_process(step_id=Step.objects.get(instance=instance).id, worker="w")  # the burst only
    task = Step.objects.get(instance=instance, kind=StepKind.TASK)
    # Three workers claimed it and died (their leases ran out).
    Step.objects.filter(pk=task.pk).update(status=StepStatus.RUNNING, deliveries=3,
                                           lease_until=timezone.now() - timedelta(seconds=1))
    assert steps_sweep()["dead"] == 1
    with pytest.raises(PoisonStep):  # a late message of a dead step is not acknowledged
        step_process(step_id=task.id, worker="w")
    instance.refresh_from_db()
    assert instance.status == "faulted"
    assert instance.incidents.get().activity_id == "p"
    instance_retry(tenant=tenant, instance_id=instance.id)
    drain_steps()
    instance.refresh_from_db()
    assert instance.status == "finished"


def test_suspended_instance_holds_its_steps_until_resumed(tenant, publish):
    publish(fork_of_tasks())
    instance = instance_dispatch(tenant=tenant, definition_id="fan-out")
    instance_hold(tenant=tenant, instance_id=instance.id)
    step = Step.objects.get(instance=instance)
    assert step_process(step_id=step.id, worker="w") == "skipped"
    assert steps_sweep()["published"] == 0
    instance_release(tenant=tenant, instance_id=instance.id)
    drain_steps()
    instance.refresh_from_db()
    assert instance.status == "finished"


def test_cancel_discards_the_result_of_a_step_already_running(tenant, publish, operator):
    publish(fork_of_tasks())
    instance = instance_dispatch(tenant=tenant, definition_id="fan-out")
    step_process(step_id=Step.objects.get(instance=instance).id, worker="w")
    task = Step.objects.filter(instance=instance, kind=StepKind.TASK).first()
    Step.objects.filter(pk=task.pk).update(status=StepStatus.RUNNING, claimed_by="w",
                                           lease_until=timezone.now() + timedelta(minutes=1))
    response = operator.post(f"/api/v1/instances/{instance.id}/cancel/")
    assert response.json()["status"] == "cancelled"
    assert not Step.objects.filter(instance=instance, status=StepStatus.PENDING).exists()
    Step.objects.filter(pk=task.pk).update(status=StepStatus.PENDING)  # its message arrives
    assert step_process(step_id=task.id, worker="w") == "discarded"
    instance.refresh_from_db()
    assert instance.status == "cancelled" and instance.output == {}


def test_operator_actions_refuse_impossible_transitions(tenant, publish, operator):
    publish(fork_of_tasks())
    instance = instance_dispatch(tenant=tenant, definition_id="fan-out")
    base = f"/api/v1/instances/{instance.id}"
    assert operator.post(f"{base}/resume/").status_code == 409
    assert operator.post(f"{base}/retry/").status_code == 409
    assert operator.post(f"{base}/suspend/").status_code == 200
    assert operator.post(f"{base}/suspend/").status_code == 409
    assert operator.post(f"{base}/resume/").status_code == 200


def test_dispatch_endpoint_answers_202(publish, operator):
    publish(fork_of_tasks())
    response = operator.post("/api/v1/definitions/fan-out/dispatch/", {"input": {}},
                             format="json")
    assert response.status_code == 202
    assert response.json()["status"] == "pending"
    drain_steps()
    assert operator.get(f"/api/v1/instances/{response.json()['id']}/").json()["status"] == \
        "finished"


def test_child_workflow_runs_on_the_workers_and_resumes_its_parent(tenant, publish):
    publish(sequence("child", [{"id": "c", "type": "examples.add",
                                "input": {"a": {"expr": "input.n"}, "b": 1}},
                               {"id": "o", "type": "SetOutput", "output": "n",
                                "value": {"expr": "result"}}],
                     inputs=[{"name": "n", "type": "integer"}],
                     outputs=[{"name": "n", "type": "number"}]))
    publish(sequence("parent", [
        {"id": "call", "type": "ExecuteWorkflow", "definition_id": "child",
         "input": {"n": 41}, "wait": True},
        {"id": "o", "type": "SetOutput", "output": "got", "value": {"expr": "result.n"}},
    ], outputs=[{"name": "got", "type": "number"}]))
    parent = instance_dispatch(tenant=tenant, definition_id="parent")
    drain_steps()
    parent.refresh_from_db()
    assert (parent.status, parent.output) == ("finished", {"got": 42})


def _statements(step_id) -> int:
    """SQL statements of one step. The test runs inside a transaction, so the step's own
    transaction shows as SAVEPOINT/RELEASE here (BEGIN/COMMIT on a worker): not counted."""
    with CaptureQueriesContext(connection) as captured:
        assert step_process(step_id=step_id, worker="w") == "done"
    return len([q for q in captured if "SAVEPOINT" not in q["sql"]])


def test_sql_statements_per_task_step_and_per_inline_step(tenant, publish, settings):
    settings.WEFT_STEP_CONTINUE_MAX = 0  # every step arrives as its own message here
    five_tasks = sequence("five", [
        {"id": f"t{n}", "type": "examples.add", "input": {"a": n, "b": 1}} for n in range(5)])
    publish(five_tasks)
    instance = instance_dispatch(tenant=tenant, definition_id="five")
    step_process(step_id=Step.objects.get(instance=instance).id, worker="w")  # the first burst
    counts = []
    while step := Step.objects.filter(instance=instance, status=StepStatus.PENDING).first():
        counts.append(_statements(step.id))
    assert len(counts) == 5
    assert max(counts) <= 6, counts

    def inline(n: int) -> dict:
        return sequence(f"inline-{n}", [{"id": f"w{i}", "type": "SetVariable", "variable": "v",
                                         "value": i} for i in range(n)],
                        variables=[{"name": "v", "type": "integer"}])

    publish(inline(10))
    publish(inline(200))
    small = instance_dispatch(tenant=tenant, definition_id="inline-10")
    big = instance_dispatch(tenant=tenant, definition_id="inline-200")
    assert _statements(Step.objects.get(instance=small).id) == \
        _statements(Step.objects.get(instance=big).id)


def test_a_worker_runs_the_next_steps_of_an_instance_itself(tenant, publish):
    publish(sequence("chain", [
        {"id": f"t{n}", "type": "examples.add", "input": {"a": n, "b": 1}} for n in range(5)]))
    instance = instance_dispatch(tenant=tenant, definition_id="chain")
    first = Step.objects.get(instance=instance).id
    with CaptureQueriesContext(connection) as captured:
        assert step_process(step_id=first, worker="w") == "done"
    instance.refresh_from_db()
    assert instance.status == "finished"
    steps = list(Step.objects.filter(instance=instance, kind=StepKind.TASK))
    assert len(steps) == 5 and {s.status for s in steps} == {"done"}
    assert all(s.published_at is None and s.deliveries == 1 for s in steps)  # never sent
    statements = [q for q in captured if "SAVEPOINT" not in q["sql"]]
    # One claim (which reads the instance too), then one statement for each of the six steps
    # (the first burst and five tasks: instance, records, the step done and the next one
    # claimed, `ResultApplier.write_at_once`): the steps kept need no claim, only a look
    # whether an operator suspended the instance meanwhile (one per task kept).
    assert len(statements) == 1 + 6 + 5
    assert not [q for q in captured if q["sql"] in ("BEGIN", "COMMIT")]


def test_a_fork_publishes_all_its_branches_for_other_workers(tenant, publish):
    publish(fork_of_tasks())
    instance = instance_dispatch(tenant=tenant, definition_id="fan-out")
    step_process(step_id=Step.objects.get(instance=instance).id, worker="w")
    tasks = list(Step.objects.filter(instance=instance, kind=StepKind.TASK))
    assert [s.status for s in tasks] == ["pending", "pending"]
    assert all(s.published_at is not None for s in tasks)
    drain_steps()
    instance.refresh_from_db()
    assert instance.output == {"sum": 33}


def test_continuing_stops_at_the_budget(tenant, publish, settings):
    settings.WEFT_STEP_CONTINUE_MAX = 2
    publish(sequence("long-chain", [
        {"id": f"t{n}", "type": "examples.add", "input": {"a": n, "b": 1}} for n in range(5)]))
    instance = instance_dispatch(tenant=tenant, definition_id="long-chain")
    step_process(step_id=Step.objects.get(instance=instance).id, worker="w")
    statuses = list(Step.objects.filter(instance=instance).order_by("created_at")
                    .values_list("status", "published_at"))
    assert [s for s, _ in statuses] == ["done", "done", "done", "pending"]
    assert statuses[-1][1] is not None  # the step after the budget was published


def test_a_step_claimed_when_suspended_runs_nothing_and_waits(tenant, publish):
    publish(sequence("pair", [
        {"id": "one", "type": "examples.add", "input": {"a": 1, "b": 1}},
        {"id": "two", "type": "examples.add", "input": {"a": 2, "b": 2}}]))
    instance = instance_dispatch(tenant=tenant, definition_id="pair")
    step_process(step_id=Step.objects.get(instance=instance).id, worker="w")  # the whole chain
    instance.refresh_from_db()
    assert instance.status == "finished"
    other = instance_dispatch(tenant=tenant, definition_id="pair")
    process_step = Step.objects.get(instance=other)
    from workflows.services.runner import _claim, _process_claimed

    claimed = _claim(process_step.id, "w")  # a worker has it...
    instance_hold(tenant=tenant, instance_id=other.id)  # ...when the operator suspends
    assert _process_claimed(claimed, claim_next_for="w|h|1") == ("held", None)
    other.refresh_from_db()
    assert other.status == "suspended" and other.held
    waiting = Step.objects.get(instance=other, status=StepStatus.PENDING)
    assert waiting.pk == claimed.pk and waiting.deliveries == 0
    assert step_process(step_id=waiting.id, worker="w") == "skipped"
    instance_release(tenant=tenant, instance_id=other.id)
    drain_steps()
    other.refresh_from_db()
    assert other.status == "finished"
