from datetime import UTC, datetime, timedelta

import pytest

from runtime.activities import default_registry
from runtime.engine import EngineError, compile_definition, start_state
from tests.unit.engine.helpers import NOW, Driver, definition, expr, log, seq


def _only_bookmark(result):
    assert len(result.bookmarks) == 1
    return result.bookmarks[0]


def test_delay_with_seconds_bookmarks_a_due_time_and_outputs_fire_time():
    d = Driver(definition(seq("s", {"id": "d", "type": "Delay", "duration": 90},
                              log("l", expr("result")))))
    bookmark = _only_bookmark(d.advance())
    assert bookmark["kind"] == "timer"
    assert bookmark["due_at"] == (NOW + timedelta(seconds=90)).isoformat()
    d.pass_time(90)
    assert d.resume(bookmark["key"]).status == "finished"
    assert d.logs() == [(NOW + timedelta(seconds=90)).isoformat()]


def test_delay_with_iso_duration_is_due_after_that_duration():
    d = Driver(definition({"id": "d", "type": "Delay", "duration": "PT5M"}))
    assert _only_bookmark(d.advance())["due_at"] == (NOW + timedelta(minutes=5)).isoformat()


def test_delay_until_a_past_time_completes_at_once():
    d = Driver(definition({"id": "d", "type": "Delay", "until": "2020-01-01T00:00:00Z"}))
    result = d.advance()
    assert result.status == "finished"
    assert result.bookmarks == []


def test_timer_waits_for_its_interval():
    d = Driver(definition({"id": "t", "type": "Timer", "interval": 30}))
    assert _only_bookmark(d.advance())["due_at"] == (NOW + timedelta(seconds=30)).isoformat()


def test_cron_waits_for_the_next_fire_in_its_time_zone():
    d = Driver(definition({"id": "c", "type": "Cron", "cron": "0 9 * * *",
                           "timezone": "Europe/Paris"}))
    due = datetime.fromisoformat(_only_bookmark(d.advance())["due_at"])
    # NOW is 12:00 UTC = 13:00 in Paris (winter), so the next 09:00 Paris is tomorrow 08:00 UTC
    assert due.astimezone(UTC) == datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def test_start_at_waits_until_the_given_instant():
    d = Driver(definition({"id": "s", "type": "StartAt", "at": "2026-03-05T00:00:00+00:00"}))
    due = datetime.fromisoformat(_only_bookmark(d.advance())["due_at"])
    assert due == datetime(2026, 3, 5, tzinfo=UTC)


def test_event_waits_with_the_instance_correlation_id_and_outputs_the_payload():
    d = Driver(definition(seq("s", {"id": "e", "type": "Event", "event": "paid"},
                              log("l", expr("result['amount']")))), correlation_id="order-7")
    bookmark = _only_bookmark(d.advance())
    assert (bookmark["kind"], bookmark["name"], bookmark["correlation_id"]) == \
        ("event", "paid", "order-7")
    assert d.resume(bookmark["key"], {"amount": 12}).status == "finished"
    assert d.logs() == ["12"]
    assert d.state["activity_outputs"]["e"] == {"amount": 12}


def test_resumed_wait_exposes_payload_to_later_expressions():
    d = Driver(definition(seq("s", {"id": "e", "type": "Event", "event": "go"},
                              log("l", expr("payload['who']")))))
    d.resume(_only_bookmark(d.advance())["key"], {"who": "ann"})
    assert d.logs() == ["ann"]


def test_resuming_an_unknown_bookmark_is_ignored():
    d = Driver(definition({"id": "e", "type": "Event", "event": "go"}))
    d.advance()
    result = d.resume("nope", {})
    assert result.ignored is True
    assert result.status == "suspended"


def test_correlate_changes_the_correlation_of_later_waits():
    d = Driver(definition(seq("s", {"id": "c", "type": "Correlate",
                                    "correlation_id": expr("'order-' + input.id")},
                              {"id": "e", "type": "Event", "event": "go"})), input={"id": "9"})
    result = d.advance()
    assert result.correlation_id == "order-9"
    assert _only_bookmark(result)["correlation_id"] == "order-9"


def test_http_endpoint_wait_bookmarks_path_and_methods_and_outputs_the_request():
    d = Driver(definition(seq("s", {"id": "h", "type": "HttpEndpoint", "path": "/orders/{id}",
                                    "methods": ["post", "PUT"]},
                              log("l", expr("result['route']['id']")))))
    bookmark = _only_bookmark(d.advance())
    assert bookmark["kind"] == "http"
    assert bookmark["data"] == {"path": "orders/{id}", "methods": ["POST", "PUT"],
                                "authorize": False}
    request = {"method": "POST", "path": "orders/5", "route": {"id": "5"}, "query": {},
               "headers": {}, "body": None}
    d.resume(bookmark["key"], request)
    assert d.logs() == ["5"]


def test_write_http_response_emits_an_http_response_effect():
    d = Driver(definition({"id": "w", "type": "WriteHttpResponse", "status": 201,
                           "body": expr("{'ok': True}"), "headers": {"X-Id": expr("'7'")}}))
    result = d.advance()
    assert result.effects == [{"type": "http_response", "activity_id": "w", "status": 201,
                               "body": {"ok": True}, "headers": {"X-Id": "7"}}]


def test_publish_event_emits_a_publish_event_effect():
    d = Driver(definition({"id": "p", "type": "PublishEvent", "event": "shipped",
                           "payload": expr("{'n': 1}"), "correlation_id": "c"}))
    effect = d.advance().effects[0]
    assert (effect["type"], effect["event"], effect["payload"], effect["correlation_id"]) == \
        ("publish_event", "shipped", {"n": 1}, "c")


def test_execute_workflow_without_wait_starts_the_child_and_goes_on():
    d = Driver(definition({"id": "x", "type": "ExecuteWorkflow", "definition_id": "child",
                           "input": {"n": expr("1 + 1")}}), correlation_id="c")
    result = d.advance()
    assert result.status == "finished"
    effect = result.effects[0]
    assert effect["type"] == "start_child"
    assert effect["input"] == {"n": 2}
    assert effect["bookmark_key"] is None
    assert effect["parent_instance_id"] == "inst-1"


def test_execute_workflow_with_wait_resumes_with_the_child_outputs():
    d = Driver(definition(seq("s", {"id": "x", "type": "ExecuteWorkflow",
                                    "definition_id": "child", "wait": True},
                              log("l", expr("result['total']")))))
    result = d.advance()
    bookmark = _only_bookmark(result)
    assert bookmark["kind"] == "child"
    assert result.effects[0]["bookmark_key"] == bookmark["key"]
    d.resume(bookmark["key"], {"total": 3})
    assert d.logs() == ["3"]


TRIGGERED = {
    "id": "fc", "type": "Flowchart",
    "activities": [
        {"id": "on-event", "type": "Event", "event": "go", "trigger": True},
        {"id": "on-http", "type": "HttpEndpoint", "path": "go", "trigger": True},
        log("l", expr("str(result)")),
    ],
    "connections": [{"source": "on-event", "target": "l"}, {"source": "on-http", "target": "l"}],
}


def test_plan_lists_triggers_with_their_literal_properties():
    plan = compile_definition(definition(TRIGGERED), default_registry())
    triggers = {t.activity_id: t.as_dict() for t in plan.triggers}
    assert triggers["on-event"] == {"activity_id": "on-event", "type": "Event",
                                    "properties": {"event": "go"}}
    assert triggers["on-http"]["properties"] == {"path": "go", "methods": ["POST"],
                                                 "authorize": False}


def test_trigger_activity_completes_at_once_with_the_trigger_payload():
    d = Driver(definition(TRIGGERED), trigger={"activity_id": "on-event", "payload": {"x": 1}})
    result = d.advance()
    assert result.status == "finished"
    assert d.logs() == ["{'x': 1}"]
    # the other trigger did not start: nothing waits
    assert d.open_bookmarks() == {}


def test_trigger_activity_waits_when_instance_started_without_trigger():
    d = Driver(definition(seq("s", {"id": "t", "type": "Event", "event": "go",
                                    "trigger": True})))
    assert _only_bookmark(d.advance())["name"] == "go"


def test_timer_trigger_exposes_its_interval_in_seconds():
    plan = compile_definition(definition({"id": "t", "type": "Timer", "interval": "PT1M",
                                          "trigger": True}), default_registry())
    assert plan.triggers[0].properties["interval_seconds"] == 60


def test_start_state_refuses_a_trigger_that_is_not_in_the_plan():
    plan = compile_definition(definition(TRIGGERED), default_registry())
    with pytest.raises(EngineError):
        start_state(plan, instance_id="i", input={}, correlation_id=None, now=NOW,
                    trigger={"activity_id": "l", "payload": None})
