import pytest

from tests.integration.execution.conftest import SPEC_EXAMPLE, drain_steps, sequence

pytestmark = pytest.mark.django_db


def execute(client, definition_id, **body):
    return client.post(f"/api/v1/definitions/{definition_id}/execute/", body, format="json")


def test_spec_example_small_order_finishes_with_auto(publish, operator):
    publish(SPEC_EXAMPLE)
    response = execute(operator, "order-approval", input={"order_id": "A1", "amount": 10})
    assert response.status_code == 200, response.content
    instance = response.json()
    assert instance["status"] == "finished"
    assert instance["output"] == {"decision": "auto"}
    assert instance["version"] == 1 and instance["finished_at"]
    journal = operator.get(f"/api/v1/instances/{instance['id']}/journal/").json()["results"]
    assert any(e["event"] == "log" and e["message"] == "Order A1" for e in journal)
    sequences = [e["sequence"] for e in journal]
    assert sequences == sorted(sequences) and len(set(sequences)) == len(sequences)


def test_spec_example_big_order_waits_for_the_event_then_finishes(publish, operator):
    publish(SPEC_EXAMPLE)
    instance = execute(operator, "order-approval", input={"order_id": "A2", "amount": 5000},
                       correlation_id="order-A2").json()
    assert instance["status"] == "suspended"
    bookmarks = operator.get(f"/api/v1/instances/{instance['id']}/bookmarks/").json()["results"]
    assert [(b["activity_id"], b["name"]) for b in bookmarks] == [("approve", "order-approved")]
    other = operator.post("/api/v1/events/order-approved/", {"correlation_id": "order-B"},
                          format="json").json()
    assert {k: other[k] for k in ("resumed", "started", "retained")} == \
        {"resumed": [], "started": [], "retained": False}
    assert other["reason"]["code"] == "other_correlation_ids"
    result = operator.post("/api/v1/events/order-approved/",
                           {"correlation_id": "order-A2", "payload": {"by": "ann"}},
                           format="json").json()
    assert result["resumed"] == [instance["id"]]
    assert drain_steps() == 1
    done = operator.get(f"/api/v1/instances/{instance['id']}/").json()
    assert (done["status"], done["output"]) == ("finished", {"decision": "approved"})
    assert operator.get(f"/api/v1/instances/{instance['id']}/bookmarks/").json()["results"] == []


def test_bookmark_resume_endpoint_and_second_resume_is_refused(publish, operator):
    publish(SPEC_EXAMPLE)
    instance = execute(operator, "order-approval", input={"order_id": "A3", "amount": 5000}).json()
    bookmark = operator.get(f"/api/v1/instances/{instance['id']}/bookmarks/").json()["results"][0]
    first = operator.post(f"/api/v1/bookmarks/{bookmark['id']}/resume/", {"payload": 1},
                          format="json")
    assert first.status_code == 200
    drain_steps()
    done = operator.get(f"/api/v1/instances/{instance['id']}/").json()
    assert done["status"] == "finished"
    second = operator.post(f"/api/v1/bookmarks/{bookmark['id']}/resume/", {}, format="json")
    assert second.status_code == 404


def test_activity_executions_record_inputs_outputs_and_outcomes(publish, operator):
    publish(SPEC_EXAMPLE)
    instance = execute(operator, "order-approval", input={"order_id": "A4", "amount": 1}).json()
    records = operator.get(
        f"/api/v1/instances/{instance['id']}/activity-executions/").json()["results"]
    by_id = {r["activity_id"]: r for r in records}
    assert by_id["big"]["outcome"] == "false" and by_id["big"]["status"] == "completed"
    assert by_id["auto"]["type"] == "SetOutput"
    assert all(r["started_at"] and r["finished_at"] for r in records)


def test_missing_required_input_is_400_with_its_path(publish, operator):
    publish(SPEC_EXAMPLE)
    response = execute(operator, "order-approval", input={"amount": 3})
    assert response.status_code == 400
    assert response.json()["error"]["details"]["errors"][0]["path"] == "input.order_id"
    wrong_type = execute(operator, "order-approval", input={"order_id": "x", "amount": "lots"})
    assert wrong_type.status_code == 400
    assert wrong_type.json()["error"]["details"]["errors"][0]["path"] == "input.amount"


def test_input_defaults_are_applied(publish, operator):
    publish(SPEC_EXAMPLE)
    instance = execute(operator, "order-approval", input={"order_id": "d"}).json()
    assert instance["input"] == {"order_id": "d", "amount": 0}


def test_unpublished_definition_cannot_be_executed(editor, operator):
    editor.post("/api/v1/definitions/", sequence("draft-only", []), format="json")
    response = execute(operator, "draft-only")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_published"


def test_viewer_cannot_execute(publish, member_client):
    publish(SPEC_EXAMPLE)
    response = execute(member_client("viewer"), "order-approval", input={"order_id": "v"})
    assert response.status_code == 403


def test_runtime_expression_error_faults_with_an_incident_and_journal(publish, operator):
    publish(sequence("boom", [
        {"id": "ok", "type": "WriteLine", "text": "before"},
        {"id": "bad", "type": "SetVariable", "variable": "x", "value": {"expr": "1 / 0"}},
        {"id": "never", "type": "WriteLine", "text": "after"},
    ], variables=[{"name": "x", "type": "any"}]))
    instance = execute(operator, "boom").json()
    assert instance["status"] == "faulted"
    [incident] = instance["incidents"]
    assert incident["activity_id"] == "bad"
    assert "1 / 0" in incident["message"] + str(incident["data"])
    journal = operator.get(f"/api/v1/instances/{instance['id']}/journal/").json()["results"]
    faulted = [e for e in journal if e["event"] == "faulted"]
    assert faulted and faulted[0]["activity_id"] == "bad"
    assert not any(e["activity_id"] == "never" for e in journal)


def test_incident_strategy_continue_goes_on(publish, operator):
    publish(sequence("carry-on", [
        {"id": "bad", "type": "SetVariable", "variable": "x", "value": {"expr": "1 / 0"}},
        {"id": "after", "type": "SetOutput", "output": "done", "value": True},
    ], variables=[{"name": "x", "type": "any"}], outputs=[{"name": "done", "type": "boolean"}],
        options={"incident_strategy": "continue"}))
    instance = execute(operator, "carry-on").json()
    assert instance["status"] == "finished"
    assert instance["output"] == {"done": True}
    assert [i["activity_id"] for i in instance["incidents"]] == ["bad"]


def test_fault_activity_faults_the_instance(publish, operator):
    publish(sequence("fail", [{"id": "f", "type": "Fault", "message": "nope", "code": "E42"}]))
    instance = execute(operator, "fail").json()
    assert instance["status"] == "faulted"
    assert instance["incidents"][0]["message"].endswith("nope")


def test_user_activity_runs_with_inputs_from_expressions(publish, operator):
    publish(sequence("greeter", [
        {"id": "hi", "type": "examples.greet", "input": {"name": {"expr": "input.who"}}},
        {"id": "out", "type": "SetOutput", "output": "text", "value": {"expr": "result.greeting"}},
    ], inputs=[{"name": "who", "type": "string"}], outputs=[{"name": "text", "type": "string"}]))
    instance = execute(operator, "greeter", input={"who": "Ada"}).json()
    assert instance["output"] == {"text": "Hello, Ada!"}


def test_non_retryable_user_error_faults_after_one_attempt(publish, operator):
    publish(sequence("charger", [
        {"id": "charge", "type": "examples.charge",
         "input": {"order_id": "o-1", "amount": 0}},
    ]))
    instance = execute(operator, "charger").json()
    assert instance["status"] == "faulted"
    records = operator.get(
        f"/api/v1/instances/{instance['id']}/activity-executions/").json()["results"]
    charge = next(r for r in records if r["activity_id"] == "charge")
    assert charge["status"] == "faulted" and "cannot charge" in str(charge["error"])


def test_singleton_refuses_a_second_active_instance(publish, operator):
    body = dict(SPEC_EXAMPLE, definition_id="single", options={"activation": "singleton"})
    publish(body)
    assert execute(operator, "single", input={"order_id": "1", "amount": 5000}).status_code == 200
    second = execute(operator, "single", input={"order_id": "2", "amount": 1})
    assert second.status_code == 409
    assert second.json()["error"]["code"] == "activation_conflict"


def test_correlated_singleton_is_per_correlation_id(publish, operator):
    body = dict(SPEC_EXAMPLE, definition_id="per-order",
                options={"activation": "correlated-singleton"})
    publish(body)
    big = {"order_id": "1", "amount": 5000}
    assert execute(operator, "per-order", input=big, correlation_id="a").status_code == 200
    assert execute(operator, "per-order", input=big, correlation_id="b").status_code == 200
    assert execute(operator, "per-order", input=big, correlation_id="a").status_code == 409


def test_cancel_removes_bookmarks_and_a_second_cancel_is_409(publish, operator):
    publish(SPEC_EXAMPLE)
    instance = execute(operator, "order-approval", input={"order_id": "c", "amount": 5000}).json()
    cancelled = operator.post(f"/api/v1/instances/{instance['id']}/cancel/")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert operator.get(f"/api/v1/instances/{instance['id']}/bookmarks/").json()["results"] == []
    assert operator.post(f"/api/v1/instances/{instance['id']}/cancel/").status_code == 409


def test_delete_refuses_active_instances_and_removes_finished_ones(publish, operator):
    publish(SPEC_EXAMPLE)
    waiting = execute(operator, "order-approval", input={"order_id": "w", "amount": 5000}).json()
    assert operator.delete(f"/api/v1/instances/{waiting['id']}/").status_code == 409
    done = execute(operator, "order-approval", input={"order_id": "d", "amount": 1}).json()
    assert operator.delete(f"/api/v1/instances/{done['id']}/").status_code == 204
    assert operator.get(f"/api/v1/instances/{done['id']}/").status_code == 404


def test_instance_list_filters(publish, operator):
    publish(SPEC_EXAMPLE)
    execute(operator, "order-approval", input={"order_id": "1", "amount": 1}, correlation_id="x")
    execute(operator, "order-approval", input={"order_id": "2", "amount": 5000})
    listed = lambda **q: operator.get("/api/v1/instances/", q).json()["results"]  # noqa: E731
    assert len(listed()) == 2
    assert [i["status"] for i in listed(status="suspended")] == ["suspended"]
    assert [i["correlation_id"] for i in listed(correlation_id="x")] == ["x"]
    assert len(listed(definition_id="order-approval")) == 2
    assert listed(created_after="2999-01-01T00:00:00Z") == []
    bad = operator.get("/api/v1/instances/", {"status": "sleeping"})
    assert bad.status_code == 400
    bad_date = operator.get("/api/v1/instances/", {"created_after": "yesterday"})
    assert bad_date.status_code == 400


def test_another_tenants_instances_are_404_and_never_listed(publish, operator, other_editor):
    publish(SPEC_EXAMPLE)
    instance = execute(operator, "order-approval", input={"order_id": "s", "amount": 5000}).json()
    bookmark = operator.get(f"/api/v1/instances/{instance['id']}/bookmarks/").json()["results"][0]
    base = f"/api/v1/instances/{instance['id']}/"
    for method, url in [("get", base), ("delete", base), ("post", f"{base}cancel/"),
                        ("get", f"{base}journal/"), ("get", f"{base}activity-executions/"),
                        ("get", f"{base}bookmarks/"),
                        ("post", f"/api/v1/bookmarks/{bookmark['id']}/resume/")]:
        assert getattr(other_editor, method)(url).status_code == 404, url
    assert other_editor.get("/api/v1/instances/").json()["results"] == []
    resumed = other_editor.post("/api/v1/events/order-approved/", {}, format="json").json()
    assert resumed["resumed"] == []
    assert operator.get(base).json()["status"] == "suspended"


def test_malformed_instance_id_is_a_json_404(operator):
    response = operator.get("/api/v1/instances/not-a-uuid/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_step_budget_hands_the_rest_to_the_workers(publish, operator, settings):
    settings.WEFT_SYNC_MAX_STEPS = 50
    publish({
        "definition_id": "spin", "name": "spin",
        "variables": [{"name": "i", "type": "integer", "default": 0}],
        "root": {"type": "While", "id": "loop", "condition": {"expr": "variables.i < 1000"},
                 "body": {"type": "SetVariable", "id": "inc", "variable": "i",
                          "value": {"expr": "variables.i + 1"}}},
    })
    instance = execute(operator, "spin").json()
    assert instance["status"] == "running"
    assert instance["incidents"] == []
    assert 0 < instance["variables"]["i"] < 1000
    journal = operator.get(f"/api/v1/instances/{instance['id']}/journal/",
                           {"limit": 500}).json()
    assert any((e["data"] or {}).get("code") == "handed_over" for e in journal["results"]) or \
        journal["next"]
    assert drain_steps() >= 1
    done = operator.get(f"/api/v1/instances/{instance['id']}/").json()
    assert (done["status"], done["variables"]["i"]) == ("finished", 1000)


def test_activity_types_lists_builtins_and_user_activities(operator):
    types = {d["type"]: d for d in operator.get("/api/v1/activity-types/").json()}
    assert {"Flowchart", "If", "Fork", "Event", "SendHttpRequest", "examples.greet"} <= set(types)
    assert types["If"]["outcomes"] == ["true", "false"]
    greet = types["examples.greet"]
    assert greet["kind"] == "task"
    props = {p["name"]: p for p in greet["properties"]}
    assert props["name"]["type"] == "string" and props["name"]["required"] is True
    assert props["punctuation"]["required"] is False
