from runtime.activities import default_registry
from runtime.engine import advance, compile_definition, start_state
from tests.unit.engine.helpers import NOW, Driver, definition, expr, seq

DECLS = {"variables": [{"name": "total", "type": "number", "default": 1}],
         "outputs": [{"name": "answer", "type": "number"}]}


def test_set_variable_and_set_output_feed_later_expressions_and_the_result():
    body = definition(seq(
        "s",
        {"id": "v", "type": "SetVariable", "variable": "total",
         "value": expr("variables.total + input.add")},
        {"id": "o", "type": "SetOutput", "output": "answer",
         "value": expr("variables.total * 2")},
    ), inputs=[{"name": "add", "type": "number"}], **DECLS)
    d = Driver(body, input={"add": 4})
    result = d.advance()
    assert d.state["variables"]["total"] == 5
    assert result.output == {"answer": 10}


def test_write_line_journals_a_log_entry_with_its_level():
    d = Driver(definition({"id": "w", "type": "WriteLine", "text": expr("1 + 1"),
                           "level": "warning"}))
    [entry] = [e for e in d.advance().journal if e["event"] == "log"]
    assert (entry["message"], entry["data"], entry["activity_id"]) == \
        ("2", {"level": "warning"}, "w")


def test_literal_object_values_are_not_shared_between_instances():
    body = definition(seq("s", {"id": "v", "type": "SetVariable", "variable": "bag",
                                "value": {"items": []}}),
                      variables=[{"name": "bag", "type": "object"}])
    plan = compile_definition(body, default_registry())
    state = start_state(plan, instance_id="i", input={}, correlation_id=None, now=NOW)
    advance(plan, state, now=NOW)  # no JSON round trip here: object identity matters
    state["variables"]["bag"]["items"].append("mutated by an adapter")
    assert plan.nodes["v"].literals["value"] == {"items": []}
