"""Filters, tests, blocks and comprehensions spend the same budget as everything else: a
pipeline that would build hundreds of megabytes stops after a few megabytes, with a message."""

import tracemalloc

import pytest

from runtime.engine.expressions import ExpressionEvaluationError, compile_value

HEAVY_TEMPLATES = [
    "{{ range(10000)|map('center', 100000)|list|length }}",
    "{{ range(10000)|map('center', 100000)|join('')|length }}",
    "{% set x %}{% for i in range(10000) %}{{ 'a'|center(100000) }}{% endfor %}{% endset %}"
    "{{ x|length }}",
    "{% set x %}{% for i in range(10000) %}" + "y" * 9000 + "{% endfor %}{% endset %}"
    "{{ x|length }}",
    "{% filter length %}{% for i in range(10000) %}{{ 'a'|center(100000) }}{% endfor %}"
    "{% endfilter %}",
    "{% macro big() %}{% for i in range(10000) %}{{ 'a'|center(100000) }}{% endfor %}"
    "{% endmacro %}{{ big()|length }}",
    "{% set ns = namespace(items=[]) %}{% for i in range(5000) %}"
    "{% set ns.items = ns.items + [('a'|center(100000)) ~ i] %}{% endfor %}"
    "{{ ns.items|length }}",
    "{{ range(10000)|map('center', 100000)|select('string')|list|length }}",
    "{{ range(10000)|map('center', 100000)|unique|list|length }}",
    "{{ range(10000)|map('center', 100000)|sort|length }}",
    "{{ range(10000)|map('center', 100000)|map('urlencode')|list|length }}",
]


def _evaluate_measured(value: dict) -> tuple[str, int]:
    tracemalloc.start()
    try:
        with pytest.raises(ExpressionEvaluationError) as failure:
            compile_value(value).evaluate({})
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return str(failure.value), peak


@pytest.mark.parametrize("source", HEAVY_TEMPLATES)
def test_template_pipelines_and_blocks_stop_before_allocating_much(source):
    message, peak = _evaluate_measured({"template": source})
    assert "units of data" in message or "longer than" in message or "larger than" in message
    assert peak < 40 * 2**20, f"peak {peak / 2**20:.0f} MB"


@pytest.mark.parametrize("source", [
    "len([str(i).center(100000) for i in range(10000)])",
    "len({i: str(i).center(100000) for i in range(10000)})",
    "sum(len(s) for s in [str(i).center(100000) for i in range(10000)])",
    "len([[str(i).center(100000)] for i in range(10000)])",
])
def test_comprehensions_stop_before_allocating_much(source):
    message, peak = _evaluate_measured({"expr": source})
    assert "units of data" in message
    assert peak < 40 * 2**20, f"peak {peak / 2**20:.0f} MB"


@pytest.mark.parametrize(("value", "expected"), [
    ({"template": "{{ range(1000)|map('string')|join(',')|length }}"}, "3889"),
    ({"template": "{{ range(100)|select('odd')|list|length }}"}, "50"),
    ({"template": "{% set x %}{% for i in range(3) %}{{ i }}{% endfor %}{% endset %}{{ x }}"},
     "012"),
    ({"template": "{{ items|map(attribute='n')|sum }}"}, "6"),
    ({"template": "{{ 'ab'|center(6) }}|"}, "  ab  |"),
    ({"expr": "[i * 2 for i in range(5)]"}, [0, 2, 4, 6, 8]),
    ({"expr": "len([s for s in [input.text] * 20])"}, 20),
])
def test_ordinary_pipelines_still_work(value, expected):
    names = {"items": [{"n": 1}, {"n": 2}, {"n": 3}], "input": {"text": "x" * 1000}}
    assert compile_value(value).evaluate(names) == expected
