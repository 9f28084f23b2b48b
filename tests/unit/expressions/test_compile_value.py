import pytest

from runtime.engine.expressions import (
    ALLOWED_NAMES,
    Compiled,
    ExpressionEvaluationError,
    ExpressionSyntaxError,
    compile_value,
    validate_source,
)


@pytest.mark.parametrize(
    "value",
    [None, True, 0, 1.5, "text", [1, "a"], {"a": 1}, {"a": 1, "b": 2}, {"expr": "1", "x": 2}],
)
def test_json_literal_is_returned_as_is(value):
    compiled = compile_value(value)
    assert isinstance(compiled, Compiled)
    assert compiled.kind == "literal"
    assert compiled.is_dynamic is False
    assert compiled.source is None
    assert compiled.evaluate({}) is value


def test_literal_form_takes_its_value_as_is_even_when_it_looks_like_an_expression():
    compiled = compile_value({"literal": {"expr": "input.x"}})
    assert compiled.kind == "literal"
    assert compiled.is_dynamic is False
    assert compiled.evaluate({"input": {"x": 1}}) == {"expr": "input.x"}


def test_nested_expression_dicts_are_literals_not_evaluated():
    value = {"a": {"expr": "1 + 1"}, "b": [{"template": "{{ x }}"}]}
    assert compile_value(value).evaluate({}) == value


def test_expr_form_compiles_to_a_dynamic_expression():
    compiled = compile_value({"expr": "variables.i + 1"})
    assert compiled.kind == "expr"
    assert compiled.is_dynamic is True
    assert compiled.source == "variables.i + 1"
    assert compiled.evaluate({"variables": {"i": 41}}) == 42


def test_template_form_compiles_to_a_dynamic_template():
    compiled = compile_value({"template": "order {{ input.order_id }}"})
    assert compiled.kind == "template"
    assert compiled.is_dynamic is True
    assert compiled.source == "order {{ input.order_id }}"
    assert compiled.evaluate({"input": {"order_id": 7}}) == "order 7"


@pytest.mark.parametrize("value", [{"expr": 1}, {"expr": None}, {"template": ["x"]}])
def test_non_string_source_is_a_syntax_error(value):
    with pytest.raises(ExpressionSyntaxError):
        compile_value(value)


def test_compiled_value_can_be_evaluated_many_times_with_different_names():
    compiled = compile_value({"expr": "variables.i < 3"})
    assert [compiled.evaluate({"variables": {"i": i}}) for i in range(5)] == [
        True,
        True,
        True,
        False,
        False,
    ]


def test_allowed_names_are_the_documented_ones():
    assert ALLOWED_NAMES == (
        "input",
        "variables",
        "outputs",
        "result",
        "correlation_id",
        "instance_id",
        "definition_id",
        "now",
        "item",
        "index",
        "payload",
        "secrets",
    )


@pytest.mark.parametrize("name", ALLOWED_NAMES)
def test_every_allowed_name_is_visible_and_none_when_not_passed(name):
    compiled = compile_value({"expr": name})
    assert compiled.evaluate({}) is None
    assert compiled.evaluate({name: 5}) == 5


def test_validate_source_returns_no_problems_for_valid_values():
    assert validate_source({"expr": "input.x + 1"}) == []
    assert validate_source({"template": "{{ input.x }}"}) == []
    assert validate_source({"a": 1}) == []


def test_validate_source_lists_problems_without_raising():
    problems = validate_source({"expr": "foo + 1"})
    assert len(problems) == 1
    assert "unknown name 'foo'" in problems[0]
    assert validate_source({"template": "{{ x"})[0].startswith("template syntax error")


def test_errors_carry_message_and_source():
    with pytest.raises(ExpressionEvaluationError) as caught:
        compile_value({"expr": "1 / 0"}).evaluate({})
    assert caught.value.message == "division by zero"
    assert caught.value.source == "1 / 0"
    assert "1 / 0" in str(caught.value)
