import pytest

from runtime.engine import InvalidTransition, retry
from tests.unit.engine.helpers import Driver, definition, expr, log, seq


def test_runtime_expression_error_faults_and_names_activity_and_expression():
    d = Driver(definition(seq("s", log("a", expr("input.missing['x']")), log("b", "never"))))
    result = d.advance()
    assert result.status == "faulted"
    incident = result.incidents[0]
    assert (incident["activity_id"], incident["activity_type"]) == ("a", "WriteLine")
    assert incident["expression"] == "input.missing['x']"
    assert incident["code"] == "expression_error"
    assert d.logs() == []
    assert [e["event"] for e in result.journal][-2:] == ["faulted", "workflow_faulted"]


def test_continue_strategy_completes_failed_activity_with_none_and_goes_on():
    body = definition(seq("s", log("a", expr("input.missing['x']")),
                          log("b", expr("str(result)"))),
                      options={"incident_strategy": "continue"})
    d = Driver(body)
    result = d.advance()
    assert result.status == "finished"
    assert len(result.incidents) == 1
    assert d.logs() == ["None"]
    record = next(r for r in result.executions if r["activity_id"] == "a")
    assert record["status"] == "completed" and record["error"]


def test_fault_activity_faults_even_with_continue_strategy():
    body = definition(seq("s", {"id": "f", "type": "Fault", "message": "no stock",
                                "code": "E42"}, log("b", "never")),
                      options={"incident_strategy": "continue"})
    result = Driver(body).advance()
    assert result.status == "faulted"
    assert (result.incidents[0]["message"], result.incidents[0]["code"]) == ("no stock", "E42")


def test_finish_ends_the_workflow_and_cancels_other_branches():
    root = {"id": "fork", "type": "Fork", "branches": [
        {"id": "wait", "type": "Event", "event": "never"},
        seq("s", log("a", "a"), {"id": "fin", "type": "Finish"}, log("b", "never")),
    ]}
    d = Driver(definition(root))
    result = d.advance()
    assert result.status == "finished"
    assert d.logs() == ["a"]
    assert len(result.removed_bookmarks) == 1
    assert d.state["frames"] == {}


def test_cancel_removes_bookmarks_and_reports_cancelled():
    d = Driver(definition({"id": "e", "type": "Event", "event": "x"}))
    key = d.advance().bookmarks[0]["key"]
    result = d.cancel()
    assert result.status == "cancelled"
    assert result.removed_bookmarks == [key]
    assert d.resume(key, {}).ignored is True


def test_budget_exhausted_stops_and_a_later_run_continues():
    root = {"id": "w", "type": "While", "condition": expr("variables.i < 50"),
            "body": {"id": "inc", "type": "SetVariable", "variable": "i",
                     "value": expr("variables.i + 1")}}
    d = Driver(definition(root, variables=[{"name": "i", "type": "integer", "default": 0}]),
               max_steps=10)
    first = d.advance()
    assert first.status == "budget_exhausted"
    assert first.steps == 10
    assert len(first.scheduled) == 1
    while d.advance().status == "budget_exhausted":
        pass
    assert d.state["variables"]["i"] == 50


def test_every_execution_has_a_started_and_completed_entry_and_a_record():
    d = Driver(definition(seq("s", log("a", "x"), log("b", "y"))))
    result = d.advance()
    events = [(e["event"], e["activity_id"]) for e in result.journal
              if e["event"] in ("started", "completed")]
    assert events == [("started", "s"), ("started", "a"), ("completed", "a"),
                      ("started", "b"), ("completed", "b"), ("completed", "s")]
    assert [r["activity_id"] for r in result.executions] == ["s", "a", "b"]
    assert all(r["status"] == "completed" for r in result.executions)
    sequences = [e["sequence"] for e in result.journal]
    assert sequences == list(range(1, len(sequences) + 1))


def test_journal_sequence_continues_across_calls():
    d = Driver(definition(seq("s", {"id": "e", "type": "Event", "event": "x"}, log("a", "x"))))
    first = d.advance()
    second = d.resume(first.bookmarks[0]["key"], {})
    assert second.journal[0]["sequence"] == first.journal[-1]["sequence"] + 1


def test_waiting_record_is_completed_later_under_the_same_key():
    d = Driver(definition({"id": "e", "type": "Event", "event": "x"}))
    first = d.advance()
    waiting = first.executions[0]
    assert waiting["status"] == "waiting"
    done = d.resume(first.bookmarks[0]["key"], {"p": 1}).executions[0]
    assert done["key"] == waiting["key"]
    assert done["status"] == "completed" and done["output"] == {"p": 1}
    assert done["input"] == {"event": "x"}


def test_faulted_instance_can_be_retried_from_the_failed_activity():
    body = definition(seq("s", log("a", "first"), log("b", expr("input.flag['x']")),
                          log("c", "last")))
    d = Driver(body, input={"flag": None})
    assert d.advance().status == "faulted"
    state = d.state
    state["input"]["flag"] = {"x": "fixed"}  # an operator fixed the data
    result = retry(d.plan, state, now=d.now)
    assert result.status == "finished"
    assert [e["message"] for e in result.journal if e["event"] == "log"] == ["fixed", "last"]


def test_retry_refuses_an_instance_that_is_not_faulted():
    d = Driver(definition(log("a", "x")))
    d.advance()
    with pytest.raises(InvalidTransition):
        retry(d.plan, d.state, now=d.now)


def test_finished_instance_ignores_further_runs():
    d = Driver(definition(log("a", "x")))
    d.advance()
    again = d.advance()
    assert again.ignored is True and again.journal == []


def test_continue_strategy_ends_a_loop_whose_condition_fails_later():
    root = seq("s", {"id": "w", "type": "While",
                     "condition": expr("variables.i < 2 or input.nope['x']"),
                     "body": {"id": "inc", "type": "SetVariable", "variable": "i",
                              "value": expr("variables.i + 1")}},
               log("after", expr("str(result)")))
    body = definition(root, variables=[{"name": "i", "type": "integer", "default": 0}],
                      options={"incident_strategy": "continue"})
    d = Driver(body)
    result = d.advance()
    assert result.status == "finished"
    assert [i["activity_id"] for i in result.incidents] == ["w"]
    assert d.state["variables"]["i"] == 2
    assert d.logs() == ["None"]


def test_failing_a_child_wait_by_its_bookmark_key_raises_an_incident():
    d = Driver(definition(seq("s", {"id": "x", "type": "ExecuteWorkflow",
                                    "definition_id": "child", "wait": True})))
    key = d.advance().bookmarks[0]["key"]
    result = d.fail(key, {"message": "Child workflow faulted.", "type": "ChildFaulted"})
    assert result.status == "faulted"
    assert result.incidents[0]["activity_id"] == "x"
    assert "Child workflow faulted." in result.incidents[0]["message"]
    assert d.open_bookmarks() == {}


def test_fault_from_outside_keeps_the_waits_and_retry_goes_on_from_there():
    from runtime.engine import fault

    d = Driver(definition(seq("s", {"id": "e", "type": "Event", "event": "x"},
                              log("b", "after"))))
    key = d.advance().bookmarks[0]["key"]
    result = d._call(fault, message="poison step", code="poison_step", activity_id="e")
    assert result.status == "faulted"
    assert (result.incidents[0]["code"], result.incidents[0]["activity_id"]) == (
        "poison_step", "e")
    assert [e["event"] for e in result.journal] == ["incident", "workflow_faulted"]
    assert d.resume(key, {}).ignored is True  # faulted: nothing runs
    retried = d._call(retry)
    assert retried.status == "suspended" and key in d.state["bookmarks"]
    assert d.resume(key, {}).status == "finished"
    assert d.logs() == ["after"]


def test_a_faulted_instance_can_be_cancelled():
    d = Driver(definition(seq("s", log("a", expr("input.missing['x']")))))
    assert d.advance().status == "faulted"
    result = d.cancel()
    assert result.status == "cancelled" and not result.ignored
    with pytest.raises(InvalidTransition):
        retry(d.plan, d.state, now=d.now)
