import threading

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.integration.execution.conftest import SPEC_EXAMPLE, drain_steps, sequence
from workflows.errors import WeftError
from workflows.models import ActivityExecution, Bookmark, JournalEntry, WorkflowInstance
from workflows.services.bookmarks import bookmark_resume
from workflows.services.inline import instance_execute


def writes(steps: int) -> dict:
    return sequence(f"writes-{steps}", [
        {"id": f"w{n}", "type": "WriteLine", "text": {"template": "line {{ input.n }}"}}
        for n in range(steps)
    ], inputs=[{"name": "n", "type": "integer", "default": 1}])


def statements_for(tenant, definition_id: str) -> int:
    instance_execute(tenant=tenant, definition_id=definition_id)  # warm the caches
    with CaptureQueriesContext(connection) as captured:
        instance = instance_execute(tenant=tenant, definition_id=definition_id)
    assert instance.status == "finished"
    return len(captured)


@pytest.mark.django_db
def test_ten_and_two_hundred_step_runs_issue_the_same_statements(tenant, publish):
    publish(writes(10))
    publish(writes(200))
    assert statements_for(tenant, "writes-10") == statements_for(tenant, "writes-200")
    latest = WorkflowInstance.objects.filter(definition_id="writes-200").first()
    assert ActivityExecution.objects.filter(instance=latest, activity_type="WriteLine").count() \
        == 200
    assert JournalEntry.objects.filter(instance=latest, event="log").count() == 200


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_resumes_of_one_bookmark_resume_it_once(tenant, publish):
    publish(SPEC_EXAMPLE)
    instance = instance_execute(tenant=tenant, definition_id="order-approval",
                                input={"order_id": "r", "amount": 5000})
    bookmark = Bookmark.objects.get(instance=instance)
    outcomes: list[str] = []
    barrier = threading.Barrier(2)

    def resume() -> None:
        try:
            barrier.wait()
            bookmark_resume(tenant=tenant, bookmark_id=bookmark.id, payload={"ok": True})
            outcomes.append("resumed")
        except WeftError as exc:
            outcomes.append(exc.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=resume) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["not_found", "resumed"]
    assert drain_steps() == 1
    instance.refresh_from_db()
    assert instance.status == "finished"
    resumed = JournalEntry.objects.filter(instance=instance, event="resumed").count()
    assert resumed == 1


@pytest.mark.django_db
def test_child_workflow_output_reaches_its_parent(tenant, publish):
    publish(sequence("child", [
        {"id": "double", "type": "SetOutput", "output": "doubled",
         "value": {"expr": "input.n * 2"}},
    ], inputs=[{"name": "n", "type": "integer"}], outputs=[{"name": "doubled", "type": "integer"}]))
    publish(sequence("parent", [
        {"id": "call", "type": "ExecuteWorkflow", "definition_id": "child",
         "input": {"n": {"expr": "input.n"}}, "wait": True},
        {"id": "out", "type": "SetOutput", "output": "from_child",
         "value": {"expr": "result.doubled"}},
    ], inputs=[{"name": "n", "type": "integer"}],
        outputs=[{"name": "from_child", "type": "integer"}]))
    parent = instance_execute(tenant=tenant, definition_id="parent", input={"n": 21})
    assert parent.status == "finished"
    assert parent.output == {"from_child": 42}
    child = WorkflowInstance.objects.get(definition_id="child")
    assert child.parent_id == parent.id and child.status == "finished"


@pytest.mark.django_db
def test_child_fault_becomes_the_parents_incident(tenant, publish):
    publish(sequence("bad-child", [{"id": "f", "type": "Fault", "message": "child broke"}]))
    publish(sequence("waiting-parent", [
        {"id": "call", "type": "ExecuteWorkflow", "definition_id": "bad-child", "wait": True},
    ]))
    parent = instance_execute(tenant=tenant, definition_id="waiting-parent")
    assert parent.status == "faulted"
    assert parent.incidents.get().activity_id == "call"
