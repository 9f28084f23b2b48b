from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from tests.factories import UserFactory
from tests.integration.execution.conftest import drain_steps, sequence
from workflows.models import DeadLetter, Step, StepKind, StepStatus, WorkerProcess
from workflows.services.instances import instance_dispatch
from workflows.services.poison import step_mark_dead
from workflows.services.runner import step_process
from workflows.services.workers import worker_heartbeat, workers_mark_lost

pytestmark = pytest.mark.django_db


def test_workers_endpoint_shows_heartbeats_and_marks_silent_ones_lost(operator, settings):
    now = timezone.now()
    worker_heartbeat(name="celery@a", hostname="a", pid=10, queues=["workflow-tasks"],
                     started_at=now)
    worker_heartbeat(name="celery@b", hostname="b", pid=11, queues=["workflow-tasks"],
                     started_at=now)
    WorkerProcess.objects.filter(name="celery@b").update(
        last_heartbeat=now - timedelta(seconds=settings.WEFT_WORKER_LOST_AFTER + 5))
    listed = {w["name"]: w for w in operator.get("/api/v1/workers/").json()["results"]}
    assert listed["celery@a"]["state"] == "online"
    assert listed["celery@b"]["state"] == "lost"
    assert listed["celery@a"]["queues"] == ["workflow-tasks"] and listed["celery@a"]["pid"] == 10
    assert workers_mark_lost() == 1
    assert WorkerProcess.objects.get(name="celery@b").state == "lost"


def test_heartbeat_counts_the_steps_in_flight(tenant, publish):
    publish(sequence("busy", [{"id": "a", "type": "examples.add", "input": {"a": 1, "b": 1}}]))
    instance = instance_dispatch(tenant=tenant, definition_id="busy")
    Step.objects.filter(instance=instance).update(status=StepStatus.RUNNING,
                                                  claimed_by="celery@x|host|123")
    worker = worker_heartbeat(name="celery@x", hostname="x", pid=1, queues=[],
                              started_at=timezone.now())
    assert worker.steps_in_flight == 1


@pytest.fixture
def poisoned(tenant, publish, tmp_path, settings):
    settings.WEFT_STEP_CONTINUE_MAX = 0  # the task step stays pending, as for a dying worker
    publish(sequence("poisoned", [{"id": "p", "type": "test.poison",
                                   "input": {"flag_file": str(tmp_path / "absent")}}]))
    instance = instance_dispatch(tenant=tenant, definition_id="poisoned")
    step_process(step_id=Step.objects.get(instance=instance).id, worker="w")
    task = Step.objects.get(instance=instance, kind=StepKind.TASK)
    letter = DeadLetter.objects.create(
        tenant=tenant, step=task, instance=instance, queue="workflow-tasks-dlq",
        message_id="m-1", task_name="weft.run_step", body={"args": [str(task.id)]},
        receive_count=3, received_at=timezone.now())
    step_mark_dead(step_id=task.id, reason="its message reached the dead-letter queue")
    return instance, letter


def test_dead_letters_are_listed_and_redrive_finishes_the_instance(poisoned, operator,
                                                                    other_editor):
    instance, letter = poisoned
    instance.refresh_from_db()
    assert instance.status == "faulted"
    listed = operator.get("/api/v1/dead-letters/").json()["results"]
    assert [(d["message_id"], d["instance_id"]) for d in listed] == [("m-1", str(instance.id))]
    assert other_editor.get("/api/v1/dead-letters/").json()["results"] == []
    assert other_editor.post(f"/api/v1/dead-letters/{letter.id}/redrive/").status_code == 404
    response = operator.post(f"/api/v1/dead-letters/{letter.id}/redrive/")
    assert response.status_code == 200 and response.json()["redriven_at"]
    drain_steps()
    instance.refresh_from_db()
    assert instance.status == "finished"
    assert operator.post(f"/api/v1/dead-letters/{letter.id}/redrive/").status_code == 409


def test_viewer_cannot_redrive(poisoned, member_client):
    _, letter = poisoned
    assert member_client("viewer").post(
        f"/api/v1/dead-letters/{letter.id}/redrive/").status_code == 403


@pytest.fixture
def admin_client(db):
    client = Client()
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    return client


@pytest.mark.parametrize("model", ["workflowinstance", "journalentry", "activityexecution",
                                   "step", "workerprocess", "deadletter"])
def test_runtime_admin_lists_render(admin_client, poisoned, model):
    assert admin_client.get(f"/admin/workflows/{model}/").status_code == 200


def test_instance_admin_page_and_retry_action(admin_client, poisoned):
    instance, _ = poisoned
    page = admin_client.get(f"/admin/workflows/workflowinstance/{instance.id}/change/")
    assert page.status_code == 200 and b"poison" in page.content.lower()
    admin_client.post("/admin/workflows/workflowinstance/",
                      {"action": "retried_selected", "_selected_action": [instance.id]})
    drain_steps()
    instance.refresh_from_db()
    assert instance.status == "finished"
