import datetime as dt

import pytest

from runtime.engine.expressions import (
    ExpressionEvaluationError,
    ExpressionSyntaxError,
    compile_value,
)

NAMES = {
    "input": {"order_id": 7, "name": "ada", "lines": [{"qty": 3}, {"qty": 4}]},
    "variables": {"count": 2},
    "now": dt.datetime(2024, 5, 17, tzinfo=dt.UTC),
}


def render(source, names=NAMES):
    return compile_value({"template": source}).evaluate(names)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("plain text", "plain text"),
        ("order {{ input.order_id }}", "order 7"),
        ("{{ input['name'] }}", "ada"),
        ("{{ input.lines[1].qty }}", "4"),
        ("{{ input.name.upper() }}", "ADA"),
        ("{{ input.name|upper }}", "ADA"),
        ("{{ variables.count + 1 }}", "3"),
        ("{% if variables.count > 1 %}many{% else %}one{% endif %}", "many"),
        ("{% for l in input.lines %}{{ loop.index }}:{{ l.qty }};{% endfor %}", "1:3;2:4;"),
        ("{{ input.lines|map(attribute='qty')|sum }}", "7"),
        ("{{ range(3)|join(',') }}", "0,1,2"),
        ("{{ 'a' ~ input.order_id }}", "a7"),
        ("{{ now.year }}", "2024"),
        ("{{ input|tojson }}", '{"order_id": 7, "name": "ada", "lines": [{"qty": 3}, {"qty": 4}]}'),
        (
            "{% set ns = namespace(n=0) %}{% for l in input.lines %}"
            "{% set ns.n = ns.n + l.qty %}{% endfor %}{{ ns.n }}",
            "7",
        ),
        ("{% macro greet(n) %}hi {{ n }}{% endmacro %}{{ greet(input.name) }}", "hi ada"),
    ],
)
def test_renders_to_a_string(source, expected):
    assert render(source) == expected


def test_missing_keys_and_names_render_empty():
    # Documented choice: undefined values are lenient (empty, chainable), not errors.
    assert render("[{{ input.nope }}][{{ input.nope.deeper }}][{{ payload.x }}]") == "[][][]"


def test_template_syntax_error_is_a_compile_error_with_the_line():
    with pytest.raises(ExpressionSyntaxError, match="template syntax error on line 2"):
        compile_value({"template": "ok\n{% if %}"})


@pytest.mark.parametrize("source", ["{{ x", "{% for %}", "{% endif %}", "{{ x|no_such_filter }}"])
def test_broken_templates_are_compile_errors(source):
    with pytest.raises(ExpressionSyntaxError):
        compile_value({"template": source})


@pytest.mark.parametrize(
    "source",
    ["{{ 1 / 0 }}", "{{ input.lines.append(1) }}", "{% include 'other' %}", "{{ 'a' + 1 }}"],
)
def test_runtime_failures_are_evaluation_errors(source):
    with pytest.raises(ExpressionEvaluationError):
        render(source)


def test_templates_cannot_mutate_the_names():
    names = {"input": {"lines": [1]}}
    for source in ("{{ input.lines.append(2) }}", "{{ input.update(a=1) }}", "{{ input.clear() }}"):
        with pytest.raises(ExpressionEvaluationError):
            render(source, names)
    assert names == {"input": {"lines": [1]}}


def test_rendering_a_huge_output_is_an_evaluation_error():
    with pytest.raises(ExpressionEvaluationError, match="longer than"):
        render("{% for i in range(10000) %}{{ 'x' * 100 }}{% endfor %}")
