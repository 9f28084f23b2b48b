"""Known sandbox-escape and resource-exhaustion payloads: every one is refused."""

import os

import pytest

from runtime.engine.expressions import (
    ExpressionEvaluationError,
    ExpressionSyntaxError,
    compile_value,
)

EXPRESSION_PAYLOADS = [
    "().__class__.__bases__[0].__subclasses__()",
    '"".__class__',
    "input.__class__",
    "[].__class__.__mro__",
    "{}.__class__.__base__.__subclasses__()",
    '"{0.__class__}".format(1)',
    '"{0.__init__.__globals__}".format_map({})',
    "'%(x)s' % {'x': 1}",
    "__import__('os')",
    "__builtins__",
    "getattr(input, '__class__')",
    "(lambda: 1)()",
    "type(1)",
    "eval('1')",
    "exec('x=1')",
    "open('/etc/passwd')",
    "globals()",
    'f"{input.__class__}"',
    'f"{input!r:{input}}"',
    "[x for x in range(10**9)]",
    "'a' * 10**10",
    "[0] * 10**9",
    "10 ** 10 ** 10",
    "2 ** 10**9",
    "1 << 10**9",
    "(x for x in [1]).gi_frame",
    "(x for x in [1]).gi_frame.f_globals",
    "input.f_globals",
    "input.mro()",
    "str.mro()",
    "input._private",
    "input.get.__self__",
    "input.items.__func__",
    "(y := 1)",
    "{1, 2}",
    "[*input]",
    "len",
    "sorted(result, key=len)",
    "'x'.ljust(10**9)",
    "('a' * 100000).replace('a', 'aa')",
    "'-'.join(['x' * 100000] * 2)",
    "[1 for a in range(10000) for b in range(10000)]",
    "[1 for a in range(10000) for b in range(10000) if False]",
    "str([[[0] * 99] * 99] * 99)",
    "[[[[0] * 99] * 99] * 99]",
    "f'{1:>999999999}'",
    "round(5, -10**9)",
    "sum([[1]] * 100, [])",
    "(-1) ** 0.5",
    "int('9' * 5000)",
    "input.__dict__",
    "input['__class__'].__init__",
    "now.tzinfo",
    "now.__reduce__()",
    "[].append.__self__",
    "open",
]

TEMPLATE_PAYLOADS = [
    "{{ ''.__class__.__mro__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ cycler.__init__.__globals__ }}",
    "{{ joiner.__init__.__globals__.os }}",
    "{{ namespace.__init__.__globals__ }}",
    "{{ self._TemplateReference__context }}",
    "{{ self.__init__.__globals__ }}",
    "{{ lipsum.__globals__ }}",
    "{{ lipsum(n=10**9) }}",
    "{{ range.__globals__ }}",
    "{{ request.application.__globals__ }}",
    "{{ config.__class__.__init__.__globals__['os'] }}",
    "{{ ''['__class__'] }}",
    "{{ input|attr('__class__') }}",
    "{{ '{0.__class__}'.format(1) }}",
    "{{ '%999999999s' % 1 }}",
    "{{ 'a'|format }}",
    "{% for x in range(10**9) %}{% endfor %}",
    "{% for x in range(10000) %}{% for y in range(10000) %}{% endfor %}{% endfor %}",
    "{{ 'a' * 10**9 }}",
    "{{ [0] * 10**9 }}",
    "{{ 2 ** 1000000000 }}",
    "{{ 'a'|center(10**9) }}",
    "{{ 'a'.ljust(10**9) }}",
    "{{ 'a'|replace('a', 'a' * 100000)|replace('a', 'aa') }}",
    "{% set x = 'a' * 100000 %}{{ x ~ x }}",
    "{% set ns = namespace(x='a') %}{% for i in range(30) %}{% set ns.x = ns.x + ns.x %}"
    "{% endfor %}{{ ns.x }}",
    "{% set ns = namespace(x=[1]) %}{% for i in range(30) %}{% set ns.x = [ns.x, ns.x] %}"
    "{% endfor %}{{ ns.x }}",
    "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}",
    "{% macro f(n) %}{% if n %}{{ f(n-1) }}{{ f(n-1) }}{% endif %}{% endmacro %}{{ f(40) }}",
    "{% for x in [1] %}{{ loop._iterator }}{% endfor %}",
    "{% for x in [1] %}{{ loop.__class__.__init__.__globals__ }}{% endfor %}",
    "{{ (1).__class__ }}",
    "{{ input.__dict__ }}",
    "{{ input.items.__self__ }}",
    "{{ dict.__subclasses__() }}",
    "{{ input.lines.append(1) }}",
    "{% include '/etc/passwd' %}",
    "{% extends '/etc/passwd' %}",
    "{% import 'os' as os %}",
    "{{ range(10)|batch(10**9)|list }}",
    "{{ 123|round(-10**9, 'floor') }}",
    "{{ 9|random }}",
]


def _refused(kind, source, names):
    try:
        compiled = compile_value({kind: source})
    except ExpressionSyntaxError:
        return True
    try:
        value = compiled.evaluate(names)
    except ExpressionEvaluationError:
        return True
    # A template may render a refused attribute as an empty string; it must leak nothing.
    return kind == "template" and value == ""


def _names(tmp_path):
    marker = tmp_path / "side-effect"
    return {
        "input": {"x": 1, "lines": [1], "name": str(marker)},
        "result": [1, 2],
        "now": None,
    }, marker


def test_corpus_is_large_enough():
    assert len(EXPRESSION_PAYLOADS) >= 25
    assert len(TEMPLATE_PAYLOADS) >= 25


@pytest.mark.parametrize("source", EXPRESSION_PAYLOADS)
def test_expression_payload_is_refused(source, tmp_path):
    names, marker = _names(tmp_path)
    assert _refused("expr", source, names)
    assert names["input"] == {"x": 1, "lines": [1], "name": str(marker)}
    assert not os.path.exists(marker)


@pytest.mark.parametrize("source", TEMPLATE_PAYLOADS)
def test_template_payload_is_refused(source, tmp_path):
    names, marker = _names(tmp_path)
    assert _refused("template", source, names)
    assert names["input"] == {"x": 1, "lines": [1], "name": str(marker)}
    assert not os.path.exists(marker)


@pytest.mark.parametrize(
    "source",
    [
        "().__class__",
        "input.__class__",
        "__import__('os')",
        "getattr(input, 'x')",
        "(lambda: 1)()",
        "type(1)",
        '"{}".format(1)',
        "input.gi_frame",
    ],
)
def test_statically_detectable_payloads_fail_at_compile_time(source):
    with pytest.raises(ExpressionSyntaxError):
        compile_value({"expr": source})


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__ }}",
        "{{ self._TemplateReference__context }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ x['__globals__'] }}",
    ],
)
def test_statically_detectable_template_payloads_fail_at_compile_time(source):
    with pytest.raises(ExpressionSyntaxError):
        compile_value({"template": source})
