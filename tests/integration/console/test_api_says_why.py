"""The API explains an instance: held apart from status, what it waits on, who acted, and
why a failure or an unmatched event happened."""

import logging

import pytest

from tests.integration.execution.conftest import drain_steps, sequence
from tests.integration.execution.test_operations_api import poisoned  # noqa: F401  (fixture)
from workflows.models import Incident, JournalEntry, Step, StepKind, StepStatus, WorkflowInstance
from workflows.services.instances import instance_dispatch
from workflows.services.runner import step_process

pytestmark = pytest.mark.django_db


def _event_wait(definition_id="waits", event="approved"):
    return sequence(definition_id, [
        {"id": "approve", "type": "Event", "event": event},
        {"id": "done", "type": "WriteLine", "text": "approved"},
    ])


def _operator_journal(instance_id) -> list[tuple[str, str]]:
    return [(e.data["action"], e.data["actor"]) for e in JournalEntry.objects.filter(
        instance_id=instance_id, event="operator").order_by("sequence")]


def test_held_is_separate_from_status_and_names_who_held_it(tenant, publish, member_client):
    publish(_event_wait())
    alice = member_client("operator")
    started = alice.post("/api/v1/definitions/waits/execute/", {}, format="json").json()
    assert started["status"] == "suspended" and started["held"] is False
    assert started["held_by"] is None
    held = alice.post(f"/api/v1/instances/{started['id']}/suspend/").json()
    assert held["held"] is True and held["status"] == "suspended"
    username = WorkflowInstance.objects.get(id=started["id"]).held_by
    assert held["held_by"] == username and username.startswith("user")
    assert held["held_at"] is not None
    assert any("Held by" in line for line in held["waiting_on"]["summary"])
    released = alice.post(f"/api/v1/instances/{started['id']}/resume/").json()
    assert released["held"] is False and released["held_by"] is None
    # Released, it still waits for its event: the status says so, `held` no longer.
    assert released["status"] == "suspended"
    assert _operator_journal(started["id"]) == [("suspended", username), ("resumed", username)]


def test_waiting_on_lists_the_event_with_its_correlation_id(tenant, publish, operator):
    publish(_event_wait())
    started = operator.post("/api/v1/definitions/waits/execute/",
                            {"correlation_id": "order-7"}, format="json").json()
    detail = operator.get(f"/api/v1/instances/{started['id']}/").json()
    waiting = detail["waiting_on"]
    assert [(e["event"], e["correlation_id"], e["activity_id"]) for e in waiting["events"]] == \
        [("approved", "order-7", "approve")]
    assert waiting["timers"] == [] and waiting["children"] == [] and waiting["retries"] == []
    assert waiting["summary"] == [
        "Waiting for the event 'approved' with correlation id 'order-7' in approve."]


def test_waiting_on_lists_a_timer_with_its_due_time(tenant, publish, operator):
    publish(sequence("sleeper", [{"id": "nap", "type": "Delay", "duration": "PT10M"}]))
    started = operator.post("/api/v1/definitions/sleeper/execute/", {}, format="json").json()
    waiting = operator.get(f"/api/v1/instances/{started['id']}/").json()["waiting_on"]
    assert len(waiting["timers"]) == 1 and waiting["timers"][0]["activity_id"] == "nap"
    assert waiting["summary"][0].startswith("Timer nap is due at ")
    assert "(in 9 minutes)" in waiting["summary"][0] or "(in 10 minutes)" in waiting["summary"][0]


def test_waiting_on_links_the_child_instance(tenant, publish, operator):
    publish(_event_wait("child"))
    publish(sequence("parent", [{"id": "run-child", "type": "ExecuteWorkflow",
                                 "definition_id": "child", "wait": True}]))
    started = operator.post("/api/v1/definitions/parent/execute/", {}, format="json").json()
    child = WorkflowInstance.objects.get(parent_id=started["id"])
    waiting = operator.get(f"/api/v1/instances/{started['id']}/").json()["waiting_on"]
    assert waiting["children"] == [{
        "bookmark_id": waiting["children"][0]["bookmark_id"], "activity_id": "run-child",
        "definition_id": "child", "instance_id": str(child.id), "status": child.status}]


def test_waiting_on_shows_a_retry_with_attempt_and_next_try(tenant, publish, operator, settings):
    settings.WEFT_STEP_CONTINUE_MAX = 0
    publish(sequence("flaky", [{"id": "f", "type": "test.flaky", "input": {"fail_times": 2},
                                "retry": {"max_attempts": 4, "initial_interval": 600,
                                          "max_interval": 600, "jitter": 0}}]))
    instance = instance_dispatch(tenant=tenant, definition_id="flaky")
    step_process(step_id=Step.objects.get(instance=instance).id, worker="w")
    step_process(step_id=Step.objects.get(instance=instance, kind=StepKind.TASK).id, worker="w")
    waiting = operator.get(f"/api/v1/instances/{instance.id}/").json()["waiting_on"]
    [retry] = waiting["retries"]
    assert (retry["activity_id"], retry["attempt"], retry["max_attempts"]) == ("f", 2, 4)
    assert retry["last_error"] == "attempt 1 fails on purpose"
    assert waiting["summary"] == [
        f"Retrying f: attempt 2 of 4, next try at {retry_time(retry)} (in 10 minutes); "
        "last error: attempt 1 fails on purpose."]


def retry_time(retry: dict) -> str:
    from django.utils.dateparse import parse_datetime

    return f"{parse_datetime(retry['next_try_at']):%Y-%m-%d %H:%M:%S} UTC"


def test_operator_actions_write_who_did_them_to_the_journal(tenant, publish, member_client):
    publish(_event_wait())
    bob = member_client("operator")
    name = bob.get("/api/v1/instances/").wsgi_request.user.get_username()
    started = bob.post("/api/v1/definitions/waits/execute/", {}, format="json").json()
    [bookmark] = bob.get(f"/api/v1/instances/{started['id']}/bookmarks/").json()["results"]
    resumed = bob.post(f"/api/v1/bookmarks/{bookmark['id']}/resume/", {"payload": {"ok": 1}},
                       format="json")
    assert resumed.status_code == 200
    drain_steps()
    second = bob.post("/api/v1/definitions/waits/execute/", {}, format="json").json()
    assert bob.post(f"/api/v1/instances/{second['id']}/cancel/").status_code == 200
    assert _operator_journal(started["id"]) == [("bookmark resumed", name)]
    assert _operator_journal(second["id"]) == [("cancelled", name)]
    journal = bob.get(f"/api/v1/instances/{second['id']}/journal/").json()["results"]
    assert any(e["event"] == "operator" and e["message"] == f"cancelled by {name}"
               for e in journal)
    # Sequence numbers stay one run: the engine's entries follow the operator's.
    sequences = [e["sequence"] for e in journal]
    assert sequences == sorted(sequences) and len(set(sequences)) == len(sequences)


def test_retry_and_redrive_name_the_operator(poisoned, member_client):  # noqa: F811
    instance, letter = poisoned
    carol = member_client("operator")
    name = carol.get("/api/v1/instances/").wsgi_request.user.get_username()
    assert carol.post(f"/api/v1/dead-letters/{letter.id}/redrive/").status_code == 200
    assert _operator_journal(instance.id) == [("retried", name)]


def test_delete_is_logged_with_who_did_it(tenant, publish, operator, caplog):
    publish(sequence("quick", [{"id": "hi", "type": "WriteLine", "text": "hi"}]))
    started = operator.post("/api/v1/definitions/quick/execute/", {}, format="json").json()
    with caplog.at_level(logging.INFO):
        assert operator.delete(f"/api/v1/instances/{started['id']}/").status_code == 204
    deleted = [r.msg for r in caplog.records
               if isinstance(r.msg, dict) and r.msg.get("event") == "instance_deleted"]
    assert deleted and deleted[0]["instance_id"] == started["id"] and deleted[0]["actor"]


def test_a_failed_user_activity_keeps_its_traceback_and_is_logged(tenant, publish, operator,
                                                                   caplog):
    publish(sequence("refuser", [{"id": "no", "type": "test.refuse",
                                  "input": {"reason": "card declined"}}]))
    with caplog.at_level(logging.INFO):
        started = operator.post("/api/v1/definitions/refuser/execute/", {},
                                format="json").json()
    assert started["status"] == "faulted"
    records = operator.get(f"/api/v1/instances/{started['id']}/activity-executions/").json()
    [failed] = [r for r in records["results"] if r["activity_id"] == "no"]
    assert "Traceback (most recent call last)" in failed["traceback"]
    assert "NonRetryableError: card declined" in failed["traceback"]
    assert "def refuse" in failed["traceback"] or "activities.py" in failed["traceback"]
    incident = Incident.objects.get(instance_id=started["id"])
    assert "NonRetryableError: card declined" in incident.data["traceback"]
    events = {r.msg.get("event"): (r.levelname, r.msg) for r in caplog.records
              if isinstance(r.msg, dict)}
    level, failure = events["activity_failed"]
    assert level == "WARNING" and failure["instance_id"] == started["id"]
    assert failure["activity_id"] == "no" and failure["definition_id"] == "refuser"
    level, faulted = events["instance_faulted"]
    assert level == "WARNING" and faulted["instance_id"] == started["id"]
    assert faulted["code"]


def test_a_fault_is_the_first_sentence_of_the_summary(tenant, publish, operator):
    publish(sequence("refuser", [{"id": "no", "type": "test.refuse"}]))
    started = operator.post("/api/v1/definitions/refuser/execute/", {}, format="json").json()
    summary = operator.get(f"/api/v1/instances/{started['id']}/").json()["waiting_on"]["summary"]
    assert summary and summary[0].startswith("Faulted in no:")


def test_an_event_nobody_waits_for_says_so(tenant, operator):
    body = operator.post("/api/v1/events/nobody/", {"payload": 1}, format="json").json()
    assert body["resumed"] == [] and body["started"] == [] and body["retained"] is False
    assert body["reason"]["code"] == "no_waiter"
    assert "Nothing waits for the event 'nobody'" in body["reason"]["message"]
    assert "not kept" in body["reason"]["message"]


def test_an_event_for_another_correlation_id_says_waits_exist(tenant, publish, operator,
                                                               other_tenant):
    publish(_event_wait())
    operator.post("/api/v1/definitions/waits/execute/", {"correlation_id": "a"}, format="json")
    body = operator.post("/api/v1/events/approved/", {"correlation_id": "b",
                                                      "retain_seconds": 30},
                         format="json").json()
    assert body["resumed"] == [] and body["retained"] is True
    reason = body["reason"]
    assert reason["code"] == "other_correlation_ids"
    assert reason["waiting_with_other_correlation_ids"] == 1 and reason["retained_seconds"] == 30
    assert "'a'" not in reason["message"]  # counts, never the other waits' ids


def test_event_reasons_never_count_another_tenants_waits(tenant, publish, other_tenant):
    from tests.conftest import client_for
    from tests.factories import MembershipFactory
    from workflows.services.definitions import definition_create, definition_publish
    from workflows.services.inline import instance_execute

    user = MembershipFactory(tenant=other_tenant, role="editor").user
    definition_create(tenant=other_tenant, user=user, body=_event_wait())
    definition_publish(tenant=other_tenant, user=user, definition_id="waits")
    instance_execute(tenant=other_tenant, definition_id="waits", correlation_id="x")
    acme = client_for(MembershipFactory(tenant=tenant, role="operator").user)
    body = acme.post("/api/v1/events/approved/", {"correlation_id": "y"}, format="json").json()
    assert body["reason"]["code"] == "no_waiter"
    assert body["reason"]["waiting_with_other_correlation_ids"] == 0


def test_an_event_that_resumes_gives_no_reason(tenant, publish, operator):
    publish(_event_wait())
    operator.post("/api/v1/definitions/waits/execute/", {}, format="json")
    body = operator.post("/api/v1/events/approved/", {}, format="json").json()
    assert len(body["resumed"]) == 1 and "reason" not in body


def test_versions_list_shows_the_published_version_on_every_row(tenant, publish, editor):
    publish(_event_wait())
    changed = _event_wait()
    changed["description"] = "v2"
    assert editor.put("/api/v1/definitions/waits/", changed, format="json").status_code == 200
    rows = editor.get("/api/v1/definitions/waits/versions/").json()["results"]
    assert [(r["version"], r["is_published"], r["published_version"]) for r in rows] == [
        (2, False, 1), (1, True, 1)]
    one = editor.get("/api/v1/definitions/waits/versions/2/").json()
    assert one["published_version"] == 1


def test_held_steps_wait_and_nothing_moves_while_held(tenant, publish, operator, settings):
    settings.WEFT_STEP_CONTINUE_MAX = 0
    publish(sequence("slow", [{"id": "a", "type": "examples.add", "input": {"a": 1, "b": 2}}]))
    instance = instance_dispatch(tenant=tenant, definition_id="slow")
    operator.post(f"/api/v1/instances/{instance.id}/suspend/")
    detail = operator.get(f"/api/v1/instances/{instance.id}/").json()
    assert detail["held"] is True and detail["held_at"] is not None
    assert Step.objects.filter(instance=instance, status=StepStatus.PENDING).exists()


def test_instance_detail_costs_the_same_queries_however_much_it_waits_on(
        tenant, publish, operator, settings):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    settings.WEFT_STEP_CONTINUE_MAX = 0

    def flaky_fork(definition_id: str, branches: int) -> str:
        publish({"definition_id": definition_id, "name": definition_id, "root": {
            "type": "Fork", "id": "all", "branches": [
                {"id": f"f{i}", "type": "test.flaky", "input": {"fail_times": 3},
                 "retry": {"max_attempts": 4, "initial_interval": 600}}
                for i in range(branches)] + [
                {"id": f"e{i}", "type": "Event", "event": f"ev{i}"}
                for i in range(branches)]}})
        instance = instance_dispatch(tenant=tenant, definition_id=definition_id)
        step_process(step_id=Step.objects.get(instance=instance).id, worker="w")
        for task in Step.objects.filter(instance=instance, kind=StepKind.TASK):
            step_process(step_id=task.id, worker="w")
        return str(instance.id)

    def queries(instance_id: str) -> int:
        with CaptureQueriesContext(connection) as captured:
            detail = operator.get(f"/api/v1/instances/{instance_id}/").json()
        assert detail["waiting_on"]["retries"] and detail["waiting_on"]["events"]
        return len(captured)

    small, large = flaky_fork("one", 1), flaky_fork("five", 5)
    assert len(operator.get(f"/api/v1/instances/{large}/").json()["waiting_on"]["retries"]) == 5
    assert queries(large) == queries(small)
