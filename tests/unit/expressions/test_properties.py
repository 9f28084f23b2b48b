"""Random expressions and templates: only our two errors, bounded work, plain data out."""

import datetime as dt

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runtime.engine.expressions import (
    ALLOWED_NAMES,
    ExpressionEvaluationError,
    ExpressionSyntaxError,
    compile_value,
)

NAMES = {
    "input": {"x": 3, "s": "abc", "items": [1, 2, 3], "d": {"k": [{"v": 1.5}]}, "n": None},
    "variables": {"i": 9999, "big": 10**300, "neg": -7, "f": 0.1},
    "outputs": {"a": {"status": 200, "body": "ok"}},
    "result": ["x" * 1000, 2],
    "now": dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
    "item": {"id": 1},
    "index": 0,
}
PLAIN_SCALARS = (type(None), bool, int, float, str, dt.datetime, dt.date)

IDENTIFIERS = [*ALLOWED_NAMES, "x", "foo", "len", "__import__", "__builtins__", "getattr"]
ATTRIBUTES = [
    "x",
    "s",
    "items",
    "d",
    "k",
    "v",
    "status",
    "year",
    "upper",
    "join",
    "get",
    "keys",
    "values",
    "format",
    "mro",
    "append",
    "__class__",
    "__globals__",
    "__subclasses__",
    "__dict__",
    "_private",
    "gi_frame",
    "f_globals",
    "func_globals",
    "__init__",
    "__self__",
    "tzinfo",
]
FUNCTIONS = [
    "len",
    "str",
    "int",
    "float",
    "bool",
    "abs",
    "min",
    "max",
    "round",
    "sum",
    "sorted",
    "any",
    "all",
    "list",
    "dict",
    "range",
    "getattr",
    "type",
    "eval",
    "vars",
]
OPERATORS = ["+", "-", "*", "/", "//", "%", "**", "<<", ">>", "|", "&", "^", "@"]
COMPARISONS = ["==", "!=", "<", "<=", ">", ">=", "in", "not in", "is", "is not"]

literals = st.one_of(
    st.integers(min_value=-(10**12), max_value=10**12).map(str),
    st.sampled_from(["10**9", "10**100", "0", "-1", "1.5", "1e308", "1j", "b'x'", "..."]),
    st.text(alphabet="ab{}%_.x0", max_size=6).map(repr),
    st.sampled_from(["None", "True", "False", "[]", "{}", "()", "{1}"]),
)


def _expressions(children):
    pair = st.tuples(children, children)
    return st.one_of(
        st.builds(lambda e, a: f"{e}.{a}", children, st.sampled_from(ATTRIBUTES)),
        st.builds(lambda e, a: f"{e}.{a}()", children, st.sampled_from(ATTRIBUTES)),
        st.builds(lambda p: f"{p[0]}[{p[1]}]", pair),
        st.builds(lambda e: f"{e}[1:-1:2]", children),
        st.builds(
            lambda f, args: f"{f}({', '.join(args)})",
            st.sampled_from(FUNCTIONS),
            st.lists(children, max_size=3),
        ),
        st.builds(lambda p, op: f"({p[0]} {op} {p[1]})", pair, st.sampled_from(OPERATORS)),
        st.builds(lambda p, op: f"({p[0]} {op} {p[1]})", pair, st.sampled_from(COMPARISONS)),
        st.builds(lambda p, op: f"({p[0]} {op} {p[1]})", pair, st.sampled_from(["and", "or"])),
        st.builds(lambda e, op: f"({op}{e})", children, st.sampled_from(["-", "+", "~", "not "])),
        st.builds(lambda t, p: f"({p[0]} if {t} else {p[1]})", children, pair),
        st.builds(lambda items: f"[{', '.join(items)}]", st.lists(children, max_size=4)),
        st.builds(lambda p: f"{{{p[0]}: {p[1]}}}", pair),
        st.builds(lambda p: f"[{p[0]} for x in {p[1]}]", pair),
        st.builds(lambda p, c: f"[{p[0]} for x in {p[1]} if {c}]", pair, children),
        st.builds(lambda p: f"[{p[0]} for x in {p[1]} for y in {p[1]}]", pair),
        st.builds(lambda p: f"({p[0]} for x in {p[1]})", pair),
        st.builds(lambda e: f'f"{{{e}}}"', children),
        st.builds(lambda e: f'f"{{{e}!r:>5}}"', children),
        st.builds(lambda e: f"(lambda: {e})()", children),
        st.builds(lambda e: f"(x := {e})", children),
    )


expressions = st.recursive(
    st.one_of(literals, st.sampled_from(IDENTIFIERS)), _expressions, max_leaves=12
)


def assert_plain(value, depth=0):
    assert depth < 200
    if isinstance(value, (list, tuple)):
        for item in value:
            assert_plain(item, depth + 1)
    elif isinstance(value, dict):
        for key, item in value.items():
            assert_plain(key, depth + 1)
            assert_plain(item, depth + 1)
    else:
        assert type(value) in PLAIN_SCALARS, f"not plain data: {type(value)!r}"


@settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(expressions)
def test_random_expressions_fail_only_with_our_errors_and_return_plain_data(source):
    try:
        compiled = compile_value({"expr": source})
    except ExpressionSyntaxError:
        return
    try:
        value = compiled.evaluate(NAMES)
    except ExpressionEvaluationError:
        return
    assert_plain(value)


JINJA_FILTERS = [
    "upper",
    "length",
    "join",
    "sum",
    "list",
    "tojson",
    "string",
    "first",
    "sort",
    "unique",
    "center(10**9)",
    "replace('a', 'aaaa')",
    "format",
    "attr('__class__')",
    "map(attribute='__class__')",
    "pprint",
    "random",
    "batch(3)",
    "round(2)",
    "default('-')",
]


def _jinja_expressions(children):
    pair = st.tuples(children, children)
    return st.one_of(
        st.builds(lambda e, a: f"{e}.{a}", children, st.sampled_from(ATTRIBUTES)),
        st.builds(lambda e, a: f"{e}.{a}()", children, st.sampled_from(ATTRIBUTES)),
        st.builds(lambda p: f"{p[0]}[{p[1]}]", pair),
        st.builds(lambda e, f: f"({e})|{f}", children, st.sampled_from(JINJA_FILTERS)),
        st.builds(
            lambda p, op: f"({p[0]} {op} {p[1]})",
            pair,
            st.sampled_from(["+", "-", "*", "/", "//", "%", "**", "~", "==", "<", "in", "and"]),
        ),
        st.builds(lambda items: f"[{', '.join(items)}]", st.lists(children, max_size=3)),
        st.builds(lambda e: f"range({e})", children),
        st.builds(lambda e: f"dict(a={e})", children),
    )


jinja_expressions = st.recursive(
    st.one_of(
        literals.filter(lambda text: text not in ("1j", "b'x'", "...", "{1}")),
        st.sampled_from(
            [*ALLOWED_NAMES, "x", "loop", "self", "cycler", "lipsum", "namespace", "range"]
        ),
    ),
    _jinja_expressions,
    max_leaves=8,
)


def _templates(children):
    return st.one_of(
        st.builds(lambda a, b: a + b, children, children),
        st.builds(
            lambda e, body: f"{{% for x in {e} %}}{body}{{% endfor %}}", jinja_expressions, children
        ),
        st.builds(
            lambda e, a, b: f"{{% if {e} %}}{a}{{% else %}}{b}{{% endif %}}",
            jinja_expressions,
            children,
            children,
        ),
        st.builds(
            lambda e, body: f"{{% set y = {e} %}}{body}{{{{ y }}}}", jinja_expressions, children
        ),
    )


templates = st.recursive(
    st.one_of(st.builds(lambda e: f"{{{{ {e} }}}}", jinja_expressions), st.just("text ")),
    _templates,
    max_leaves=6,
)


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(templates)
def test_random_templates_fail_only_with_our_errors_and_render_strings(source):
    try:
        compiled = compile_value({"template": source})
    except ExpressionSyntaxError:
        return
    try:
        value = compiled.evaluate(NAMES)
    except ExpressionEvaluationError:
        return
    assert type(value) is str
    assert "<class" not in value
    assert "<function" not in value
    assert "<module" not in value
