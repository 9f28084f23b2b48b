"""Distributed execution end to end: a real web server, real `celery worker` processes and a
real beat on a local SQS server and PostgreSQL. Nothing here is mocked."""

import signal
import time
from pathlib import Path

import pytest
from django.db import connection

from tests.e2e.conftest import publish_definition
from tests.e2e.support.fixtures import E2E_PASSWORD, ensure_test_queues
from tests.e2e.support.platform import (
    assert_branches_overlapped,
    kill_group,
    process_alive,
    start_worker,
    stop_all,
    wait_until,
)
from tests.e2e.support.proxy import FlakyProxy
from tests.e2e.support.workers import read_log, stop_worker

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def fork_workflow(definition_id: str, activity: str = "examples.add", **branch_input) -> dict:
    def branch(branch_id: str, extra: dict) -> dict:
        return {"type": activity, "id": branch_id, "input": {**extra, **branch_input}}

    return {
        "definition_id": definition_id, "name": definition_id,
        "inputs": [{"name": "n", "type": "integer", "default": 0}],
        "outputs": [{"name": "total", "type": "number"}],
        "root": {"type": "Sequence", "id": "main", "activities": [
            {"type": "WriteLine", "id": "hello", "text": {"template": "n={{ input.n }}"}},
            {"type": "Fork", "id": "fork", "join": "wait_all", "branches": [
                branch("left", {"a": {"expr": "input.n"}, "b": 1}),
                branch("right", {"a": {"expr": "input.n"}, "b": 2}),
            ]},
            {"type": "SetOutput", "id": "out", "output": "total",
             "value": {"expr": "outputs.left + outputs.right"}},
        ]},
    }


def statuses(instance_ids) -> dict:
    from workflows.models import WorkflowInstance

    return dict(WorkflowInstance.objects.filter(id__in=instance_ids)
                .values_list("id", "status"))


def all_finished(instance_ids) -> bool:
    found = statuses(instance_ids)
    return len(found) == len(instance_ids) and set(found.values()) == {"finished"}


@pytest.fixture
def workers(e2e_env):
    started = [start_worker(e2e_env, "w1"), start_worker(e2e_env, "w2")]
    try:
        yield started
    finally:
        stop_all(started)


def test_hundred_dispatched_workflows_finish_with_the_right_outputs(make_tenant, workers, beat):
    from workflows.models import WorkflowInstance

    _, api = make_tenant()
    publish_definition(api, fork_workflow("fan"))
    ids = []
    for n in range(100):
        response = api.post("/definitions/fan/dispatch/", {"input": {"n": n}})
        assert response.status_code == 202
        ids.append(response.json()["id"])
    wait_until(lambda: all_finished(ids), timeout=120, what="100 workflows finished")
    outputs = dict(WorkflowInstance.objects.filter(id__in=ids).values_list("input__n", "output"))
    assert outputs == {n: {"total": 2 * n + 3} for n in range(100)}
    listed = api.get("/workers/").json()["results"]
    ours = [w for w in listed if w["name"].split("-")[0] in {"w1", "w2"}
            and w["state"] == "online"]
    assert len(ours) >= 2 and all(w["queues"] for w in ours)


def test_fork_branches_run_in_parallel_on_two_workers(make_tenant, e2e_env, beat):
    from workflows.models import WorkflowInstance

    # One slot each, and no prefetching beyond it (what long-running steps want): a message
    # waits for a free worker instead of queueing behind a busy one.
    env = {**e2e_env, "WEFT_WORKER_PREFETCH": "1"}
    single = [start_worker(env, "solo-a", concurrency=1),
              start_worker(env, "solo-b", concurrency=1)]
    try:
        _, api = make_tenant()
        body = fork_workflow("slow-fan", activity="test.sleep", seconds=2)
        for branch in body["root"]["activities"][1]["branches"]:
            branch["input"] = {"seconds": 2, "label": branch["id"]}
        body["root"]["activities"][2]["value"] = 1
        publish_definition(api, body)
        instance_id = api.post("/definitions/slow-fan/dispatch/").json()["id"]
        wait_until(lambda: all_finished([instance_id]), timeout=60, what="fork finished")
        assert_branches_overlapped(instance_id)
        assert WorkflowInstance.objects.get(pk=instance_id).status == "finished"
    finally:
        stop_all(single)


def test_kill_9_of_a_worker_mid_step_loses_nothing_and_effects_happen_once(
        make_tenant, e2e_env, beat):
    from tests.support.activities import EFFECTS_TABLE, ensure_effects_table

    ensure_effects_table()
    victim = start_worker(e2e_env, "victim", concurrency=2)
    survivor = None
    try:
        _, api = make_tenant()
        publish_definition(api, {
            "definition_id": "effects", "name": "effects",
            "inputs": [{"name": "label", "type": "string"}],
            "root": {"type": "Sequence", "id": "main", "activities": [
                {"type": "test.effect", "id": "pay", "input": {
                    "label": {"expr": "input.label"}, "sleep": 1.5}},
                {"type": "test.effect", "id": "ship", "input": {
                    "label": {"expr": "input.label"}}},
            ]},
        })
        ids = [api.post("/definitions/effects/dispatch/",
                        {"input": {"label": f"order-{n}"}}).json()["id"] for n in range(12)]
        wait_until(lambda: _running_task_steps(ids) >= 2, timeout=30,
                   what="tasks running on the victim")
        kill_group(victim)  # kill -9 the worker and its pool children mid-step
        survivor = start_worker(e2e_env, "survivor", concurrency=2)
        wait_until(lambda: all_finished(ids), timeout=120, what="all finished after the kill")
        keys = {f"{i}:" for i in ids}
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT idempotency_key, runs FROM {EFFECTS_TABLE}")
            rows = [r for r in cursor.fetchall() if any(r[0].startswith(k) for k in keys)]
        assert len(rows) == 24  # two effects per workflow, each exactly once
        assert max(runs for _, runs in rows) >= 2  # and some ran again after the kill
    finally:
        stop_all([p for p in (victim, survivor) if p is not None])


def _running_task_steps(instance_ids) -> int:
    from workflows.models import Step

    return Step.objects.filter(instance_id__in=instance_ids, kind="task",
                               status="running").count()


def test_sqs_outage_of_ten_seconds_loses_nothing(make_tenant, e2e_env, local_sqs, workers, beat):
    _, api = make_tenant()
    publish_definition(api, fork_workflow("outage"))
    ids = [api.post("/definitions/outage/dispatch/", {"input": {"n": n}}).json()["id"]
           for n in range(5)]
    local_sqs.kill()
    try:
        started = time.monotonic()
        for n in range(5, 15):
            response = api.post("/definitions/outage/dispatch/", {"input": {"n": n}})
            assert response.status_code == 202, response.text
            ids.append(response.json()["id"])
        time.sleep(max(0.0, 10 - (time.monotonic() - started)))
    finally:
        local_sqs.restart()
        ensure_test_queues(e2e_env)
    wait_until(lambda: all_finished(ids), timeout=120, what="all finished after the outage")
    assert all(process_alive(w) for w in workers)


def test_poison_activity_reaches_the_dlq_then_retry_after_the_fix_finishes(
        make_tenant, e2e_env, beat, tmp_path):
    from workflows.models import DeadLetter, WorkflowInstance

    flag = Path(tmp_path) / "poison-on"
    flag.write_text("1")
    worker = start_worker(e2e_env, "poisoned", concurrency=1)
    try:
        _, api = make_tenant()
        publish_definition(api, {
            "definition_id": "poison", "name": "poison",
            "root": {"type": "Sequence", "id": "main", "activities": [
                {"type": "test.poison", "id": "bad", "input": {"flag_file": str(flag)}}]},
        })
        instance_id = api.post("/definitions/poison/dispatch/").json()["id"]
        wait_until(lambda: DeadLetter.objects.filter(instance_id=instance_id).exists(),
                   timeout=150, interval=1, what="the message in the dead-letter queue")
        # The sweeper may have re-published the step while a worker lay dead, so one step can
        # leave more than one message in the dead-letter queue; each was received 3 times.
        letters = list(DeadLetter.objects.filter(instance_id=instance_id))
        assert len({letter.step_id for letter in letters}) == 1
        assert all(letter.receive_count >= 3 for letter in letters)
        wait_until(lambda: WorkflowInstance.objects.get(pk=instance_id).status == "faulted",
                   timeout=30, what="the instance faulted")
        instance = api.get(f"/instances/{instance_id}/").json()
        assert instance["incidents"] and instance["incidents"][0]["activity_id"] == "bad"
        listed = api.get("/dead-letters/").json()["results"]
        assert {d["instance_id"] for d in listed} == {instance_id}
        flag.unlink()  # the fix
        assert api.post(f"/instances/{instance_id}/retry/").status_code == 200
        wait_until(lambda: all_finished([instance_id]), timeout=60, what="finished after fix")
    finally:
        stop_all([worker])


def test_workers_survive_an_sqs_that_answers_503_now_and_then(make_tenant, e2e_env, beat):
    proxy = FlakyProxy(e2e_env["AWS_ENDPOINT_URL_SQS"], fail_every=3).start()
    flaky_env = {**e2e_env, "AWS_ENDPOINT_URL_SQS": proxy.url}
    flaky = [start_worker(flaky_env, "flaky-a"), start_worker(flaky_env, "flaky-b")]
    try:
        _, api = make_tenant()
        publish_definition(api, fork_workflow("through-503"))
        ids = [api.post("/definitions/through-503/dispatch/", {"input": {"n": n}}).json()["id"]
               for n in range(20)]
        wait_until(lambda: all_finished(ids), timeout=120, what="finished through 503s")
        assert proxy.failed_calls > 0
        assert all(process_alive(w) for w in flaky), [read_log(w)[-2000:] for w in flaky]
    finally:
        stop_all(flaky)
        proxy.stop()


def test_sigterm_finishes_the_running_step_and_takes_no_new_one(make_tenant, e2e_env, beat):
    from workflows.models import Step, WorkerProcess

    worker = start_worker(e2e_env, "graceful", concurrency=1)
    try:
        _, api = make_tenant()
        publish_definition(api, {
            "definition_id": "long", "name": "long",
            "root": {"type": "Sequence", "id": "main", "activities": [
                {"type": "test.sleep", "id": "nap", "input": {"seconds": 3}}]},
        })
        instance_id = api.post("/definitions/long/dispatch/").json()["id"]
        wait_until(lambda: Step.objects.filter(instance_id=instance_id, kind="task",
                                               status="running").exists(),
                   timeout=30, what="the step running")
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=30) == 0
        step = Step.objects.get(instance_id=instance_id, kind="task")
        assert step.status == "done"
        assert all_finished([instance_id])
        assert WorkerProcess.objects.get(name__startswith="graceful-").state == "stopped"
    finally:
        stop_worker(worker, signal.SIGKILL, timeout=2)


def test_options_queue_routes_a_definitions_steps_to_dedicated_workers(make_tenant, e2e_env,
                                                                       workers):
    from workflows.models import Step

    dedicated = start_worker(e2e_env, "dedicated", queues=["priority"])
    try:
        _, api = make_tenant()
        body = fork_workflow("urgent")
        body["options"] = {"queue": "priority"}
        publish_definition(api, body)
        ids = [api.post("/definitions/urgent/dispatch/", {"input": {"n": n}}).json()["id"]
               for n in range(5)]
        wait_until(lambda: all_finished(ids), timeout=60, what="routed workflows finished")
        claimers = set(Step.objects.filter(instance_id__in=ids).values_list("claimed_by",
                                                                            flat=True))
        assert claimers and all(c.startswith("dedicated-") for c in claimers), claimers
    finally:
        stop_all([dedicated])


def test_fifo_queues_run_workflows_with_a_group_per_instance(make_tenant, e2e_env, local_sqs):
    from tests.e2e.support.fixtures import sqs_client, unique_prefix
    from tests.e2e.support.platform import WebServer
    from tests.e2e.support.platform import start_beat as beat_process

    fifo_env = {**e2e_env, "WEFT_SQS_FIFO": "1", "WEFT_QUEUE_PREFIX": unique_prefix()}
    ensure_test_queues(fifo_env)
    names = [url.rsplit("/", 1)[1] for url in sqs_client(fifo_env).list_queues(
        QueueNamePrefix=fifo_env["WEFT_QUEUE_PREFIX"])["QueueUrls"]]
    assert names and all(name.endswith(".fifo") for name in names), names
    web = WebServer(fifo_env)
    processes = [start_worker(fifo_env, "fifo-a"), start_worker(fifo_env, "fifo-b"),
                 beat_process(fifo_env)]
    try:
        from tests.e2e.support.platform import Api
        from workflows.services.tenancy import tenant_member_ensure

        tenant, _ = make_tenant()
        tenant_member_ensure(tenant_slug=tenant.slug, username=f"{tenant.slug}-fifo",
                             role="editor", password=E2E_PASSWORD)
        api = Api(web.url, f"{tenant.slug}-fifo", E2E_PASSWORD)
        publish_definition(api, fork_workflow("fifo-fan"))
        ids = [api.post("/definitions/fifo-fan/dispatch/", {"input": {"n": n}}).json()["id"]
               for n in range(10)]
        wait_until(lambda: all_finished(ids), timeout=90, what="workflows on FIFO queues")
    finally:
        stop_all(processes)
        web.stop()
