import pytest

from runtime.activities import default_registry
from runtime.engine import (
    DefinitionInvalid,
    compile_definition,
    validate_definition,
    validate_input,
)
from tests.unit.engine.helpers import definition, expr, log, seq


def problems_of(body) -> dict[str, str]:
    return {p.path: p.message for p in validate_definition(body, default_registry())}


def test_valid_definition_has_no_problems():
    assert validate_definition(definition(seq("s", log("a", "hi"))), default_registry()) == []


def test_definition_must_be_an_object():
    assert list(problems_of([1, 2])) == ["$"]


def test_name_is_required():
    body = definition(log("a", "x"))
    del body["name"]
    assert "name" in problems_of(body)


def test_definition_id_must_be_a_slug():
    assert "definition_id" in problems_of(definition(log("a", "x"), definition_id="Bad Id!"))


def test_declaration_type_must_be_known():
    body = definition(log("a", "x"), inputs=[{"name": "a", "type": "string"},
                                               {"name": "b", "type": "decimal"}])
    assert "inputs[1].type" in problems_of(body)


def test_declaration_name_must_be_an_identifier():
    assert "variables[0].name" in problems_of(
        definition(log("a", "x"), variables=[{"name": "not ok", "type": "string"}]))


def test_declaration_names_must_be_unique():
    body = definition(log("a", "x"), outputs=[{"name": "d"}, {"name": "d"}])
    assert "duplicate" in problems_of(body)["outputs[1].name"]


def test_declaration_default_must_match_its_type():
    body = definition(log("a", "x"), inputs=[{"name": "n", "type": "integer", "default": "1"}])
    assert "inputs[0].default" in problems_of(body)


def test_options_must_use_known_values():
    body = definition(log("a", "x"), options={"activation": "sometimes",
                                              "incident_strategy": "ignore", "queue": ""})
    assert {"options.activation", "options.incident_strategy", "options.queue"} <= \
        set(problems_of(body))


def test_root_is_required():
    body = definition(log("a", "x"))
    del body["root"]
    assert "root" in problems_of(body)


def test_activity_id_is_required():
    assert "root.activities[0].id" in problems_of(definition(seq("s", {"type": "WriteLine",
                                                                       "text": "x"})))


def test_activity_ids_are_unique_across_the_whole_definition():
    body = definition(seq("s", log("a", "x"), seq("inner", log("a", "y"))))
    message = problems_of(body)["root.activities[1].activities[0].id"]
    assert "duplicate id 'a'" in message and "root.activities[0]" in message


def test_unknown_type_lists_the_known_types():
    message = problems_of(definition(seq("s", {"id": "x", "type": "Nope"})))[
        "root.activities[0].type"]
    assert "unknown activity type 'Nope'" in message
    assert "Sequence" in message and "WriteLine" in message


def test_required_property_is_reported():
    assert problems_of(definition({"id": "w", "type": "While", "body": log("b", "x")})) == {
        "root.condition": "required"}


def test_literal_property_of_the_wrong_type_is_reported():
    problems = problems_of(definition({"id": "f", "type": "For", "end": "ten",
                                       "body": log("b", "x")}))
    assert "must be of type number" in problems["root.end"]


def test_bad_expression_syntax_is_reported_at_its_property():
    body = definition(seq("s", log("a", "x"), {"id": "i", "type": "If",
                                               "condition": expr("input.a >")}))
    assert "invalid expression" in problems_of(body)["root.activities[1].condition"]


def test_forbidden_expression_construct_is_reported():
    body = definition(log("a", expr("().__class__")))
    assert "root.text" in problems_of(body)


def test_bad_template_is_reported():
    body = definition(log("a", {"template": "{{ input.x "}))
    assert "root.text" in problems_of(body)


def test_connection_to_unknown_activity_is_reported():
    body = definition({"id": "fc", "type": "Flowchart", "activities": [log("a", "x")],
                       "connections": [{"source": "a", "target": "ghost"}]})
    assert "ghost" in problems_of(body)["root.connections[0].target"]


def test_connection_with_outcome_the_source_lacks_is_reported():
    body = definition({"id": "fc", "type": "Flowchart", "activities": [
        {"id": "i", "type": "If", "condition": True}, log("a", "x")],
        "connections": [{"source": "i", "outcome": "maybe", "target": "a"}]})
    message = problems_of(body)["root.connections[0].outcome"]
    assert "'maybe'" in message and "true, false" in message


def test_default_done_outcome_is_not_valid_from_if():
    body = definition({"id": "fc", "type": "Flowchart", "activities": [
        {"id": "i", "type": "If", "condition": True}, log("a", "x")],
        "connections": [{"source": "i", "target": "a"}]})
    assert "root.connections[0].outcome" in problems_of(body)


def test_unknown_start_is_reported():
    body = definition({"id": "fc", "type": "Flowchart", "start": "nope",
                       "activities": [log("a", "x")]})
    assert "root.start" in problems_of(body)


def test_flowchart_without_any_start_candidate_is_reported():
    body = definition({"id": "fc", "type": "Flowchart", "activities": [log("a", "x")],
                       "connections": [{"source": "a", "target": "a"}]})
    assert "root.start" in problems_of(body)


def test_break_outside_a_loop_is_reported_at_the_break():
    body = definition(seq("s", seq("inner", log("a", "x"), {"id": "b", "type": "Break"})))
    assert "inside a loop" in problems_of(body)["root.activities[0].activities[1]"]


def test_break_inside_a_loop_body_is_fine():
    body = definition({"id": "w", "type": "While", "condition": True,
                       "body": seq("s", {"id": "b", "type": "Break"})})
    assert validate_definition(body, default_registry()) == []


def test_trigger_on_an_activity_that_cannot_trigger_is_reported():
    body = definition({"id": "a", "type": "WriteLine", "text": "x", "trigger": True})
    message = problems_of(body)["root.trigger"]
    assert "cannot be a trigger" in message and "Event" in message


def test_set_variable_to_undeclared_variable_is_reported():
    body = definition({"id": "s", "type": "SetVariable", "variable": "missing", "value": 1},
                      variables=[{"name": "known"}])
    assert "undeclared variable 'missing'" in problems_of(body)["root.variable"]


def test_set_output_to_undeclared_output_is_reported():
    body = definition({"id": "s", "type": "SetOutput", "output": "missing", "value": 1})
    assert "undeclared output" in problems_of(body)["root.output"]


def test_invalid_cron_expression_is_reported():
    assert "root.cron" in problems_of(definition({"id": "c", "type": "Cron",
                                                  "cron": "every day"}))


def test_invalid_duration_is_reported():
    assert "root.duration" in problems_of(definition({"id": "d", "type": "Delay",
                                                      "duration": "5 minutes"}))


def test_retry_on_a_non_task_activity_is_reported():
    body = definition({"id": "a", "type": "WriteLine", "text": "x", "retry": {}})
    assert "root.retry" in problems_of(body)


def test_bad_retry_policy_is_reported_per_key():
    body = definition({"id": "h", "type": "SendHttpRequest", "url": "https://x",
                       "retry": {"max_attempts": 0, "backoff": "random"}})
    assert {"root.retry.max_attempts", "root.retry.backoff"} <= set(problems_of(body))


def test_every_problem_is_reported_not_just_the_first():
    body = definition(seq("s", {"id": "a", "type": "Nope"}, {"type": "WriteLine"},
                          {"id": "i", "type": "If", "condition": expr("(")}),
                      inputs=[{"name": "x", "type": "bogus"}])
    paths = set(problems_of(body))
    assert {"inputs[0].type", "root.activities[0].type", "root.activities[1].id",
            "root.activities[1].text", "root.activities[2].condition"} <= paths


def test_compile_definition_raises_with_every_problem():
    body = definition(seq("s", {"id": "a", "type": "Nope"}, {"id": "a", "type": "Nope"}))
    with pytest.raises(DefinitionInvalid) as caught:
        compile_definition(body, default_registry())
    assert len(caught.value.problems) == 3


def test_validate_input_applies_defaults_and_reports_missing_and_mistyped():
    plan = compile_definition(definition(log("a", "x"), inputs=[
        {"name": "order_id", "type": "string", "required": True},
        {"name": "amount", "type": "number", "default": 0},
        {"name": "count", "type": "integer"},
    ]), default_registry())
    clean, problems = validate_input(plan, {"amount": 5, "extra": True})
    assert clean["amount"] == 5 and clean["extra"] is True
    assert [p.path for p in problems] == ["input.order_id"]
    clean, problems = validate_input(plan, {"order_id": "a", "count": 1.5})
    assert clean["amount"] == 0
    assert [p.path for p in problems] == ["input.count"]


def test_plan_is_immutable():
    plan = compile_definition(definition(log("a", "x")), default_registry())
    with pytest.raises(TypeError):
        plan.nodes["b"] = plan.nodes["a"]
    with pytest.raises(AttributeError):
        plan.root_id = "b"
