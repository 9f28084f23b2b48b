"""`options.retention` in a definition: validated like every other option, with JSON paths."""

from runtime.activities import default_registry
from runtime.engine import compile_definition, validate_definition
from tests.unit.engine.helpers import definition, log


def problems_of(body) -> dict[str, str]:
    return {p.path: p.message for p in validate_definition(body, default_registry())}


def test_retention_override_with_known_keys_is_valid():
    body = definition(log("a", "x"), options={"retention": {"finished_days": 7,
                                                              "faulted_days": 30}})
    plan = compile_definition(body, default_registry())
    assert plan.options["retention"] == {"finished_days": 7, "faulted_days": 30}


def test_retention_must_be_an_object():
    assert "options.retention" in problems_of(definition(log("a", "x"),
                                                         options={"retention": 7}))


def test_retention_unknown_key_is_an_error_with_its_path():
    problems = problems_of(definition(log("a", "x"), options={"retention": {"done_days": 3}}))
    assert "finished_days" in problems["options.retention.done_days"]


def test_retention_days_must_be_positive_whole_numbers():
    problems = problems_of(definition(log("a", "x"), options={"retention": {
        "finished_days": "7", "faulted_days": 0}}))
    assert set(problems) == {"options.retention.finished_days", "options.retention.faulted_days"}
    assert problems_of(definition(log("a", "x"), options={"retention": {
        "finished_days": True}})) == {"options.retention.finished_days": problems[
            "options.retention.finished_days"]}
