import datetime as dt

import pytest

from runtime.engine.expressions import (
    ExpressionEvaluationError,
    ExpressionSyntaxError,
    compile_value,
)

NAMES = {
    "input": {
        "x": 2,
        "name": "ada",
        "order": {"lines": [{"qty": 3, "sku": "A"}, {"qty": 4, "sku": "B"}]},
        "tags": ["a", "b"],
        "items": "a key named like a dict method",
    },
    "variables": {"i": 9, "total": 10.5, "flag": True},
    "outputs": {"fetch": {"status": 200}},
    "result": [1, 2, 3],
    "now": dt.datetime(2024, 5, 17, 12, 30, tzinfo=dt.UTC),
}


def evaluate(source, names=NAMES):
    return compile_value({"expr": source}).evaluate(names)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("input.x", 2),
        ('input["x"]', 2),
        ("input.order.lines[0].qty", 3),
        ('input["order"]["lines"][1]["sku"]', "B"),
        ("input.order.lines[-1].sku", "B"),
        ("outputs.fetch.status == 200", True),
        ("input.items", "a key named like a dict method"),
        ("result[1:]", [2, 3]),
        ("result[::-1]", [3, 2, 1]),
    ],
)
def test_reads_names_keys_and_indexes(source, expected):
    assert evaluate(source) == expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("1 + 2 * 3", 7),
        ("(1 + 2) * 3", 9),
        ("7 // 2", 3),
        ("7 % 3", 1),
        ("7 / 2", 3.5),
        ("2 ** 10", 1024),
        ("-input.x", -2),
        ("~0", -1),
        ("1 << 4", 16),
        ("6 & 3 | 8 ^ 1", 11),
        ("variables.i < 10", True),
        ("1 < variables.i <= 9", True),
        ("1 < variables.i < 5", False),
        ("input.x != 2 or variables.flag", True),
        ("input.x == 2 and not variables.flag", False),
        ("'a' in input.tags", True),
        ("'z' not in input.tags", True),
        ("input.missing_ok is None if False else 1", 1),
        ("result is not None", True),
        ("'yes' if variables.i > 5 else 'no'", "yes"),
        ("[1, 'a', None, True, 1.5]", [1, "a", None, True, 1.5]),
        ("(1, 2)", (1, 2)),
        ("{'a': input.x, **{'b': 3}}", {"a": 2, "b": 3}),
        ("'ab' + 'cd'", "abcd"),
        ("'ab' * 2", "abab"),
        ("[0] * 3", [0, 0, 0]),
        ("{'a': 1} | {'b': 2}", {"a": 1, "b": 2}),
    ],
)
def test_operators(source, expected):
    assert evaluate(source) == expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("len(input.tags)", 2),
        ("str(input.x)", "2"),
        ("int('42')", 42),
        ("int('ff', 16)", 255),
        ("float('1.5')", 1.5),
        ("bool(0)", False),
        ("abs(-3)", 3),
        ("min(3, 1, 2)", 1),
        ("max(result)", 3),
        ("max([], default=0)", 0),
        ("round(2.567, 2)", 2.57),
        ("sum(result)", 6),
        ("sum([0.5, 1], 1)", 2.5),
        ("sorted([3, 1, 2])", [1, 2, 3]),
        ("sorted([3, 1, 2], reverse=True)", [3, 2, 1]),
        ("any([0, 1])", True),
        ("all([0, 1])", False),
        ("list('ab')", ["a", "b"]),
        ("list(input.order)", ["lines"]),
        ("dict(a=1)", {"a": 1}),
        ("dict([('a', 1)])", {"a": 1}),
        ("range(3)", [0, 1, 2]),
        ("range(1, 10, 4)", [1, 5, 9]),
    ],
)
def test_safe_functions(source, expected):
    assert evaluate(source) == expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("input.name.upper()", "ADA"),
        ("input.name.startswith('a')", True),
        ("' x '.strip()", "x"),
        ("'a,b'.split(',')", ["a", "b"]),
        ("'-'.join(input.tags)", "a-b"),
        ("'ab'.replace('a', 'z')", "zb"),
        ("'7'.zfill(3)", "007"),
        ("input.get('x')", 2),
        ("input.get('nope', 0)", 0),
        ("input.order.keys()", ["lines"]),
        ("outputs.fetch.values()", [200]),
        ("outputs.fetch.items()", [("status", 200)]),
        ("input.tags.index('b')", 1),
        ("input.tags.count('a')", 1),
        ("now.year", 2024),
        ("now.isoformat()", "2024-05-17T12:30:00+00:00"),
        ("now.strftime('%Y-%m-%d')", "2024-05-17"),
        ("now.weekday()", 4),
        ("(2.0).is_integer()", True),
    ],
)
def test_safe_methods(source, expected):
    assert evaluate(source) == expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("[line.qty * 2 for line in input.order.lines]", [6, 8]),
        ("[x for x in result if x > 1]", [2, 3]),
        ("{line.sku: line.qty for line in input.order.lines}", {"A": 3, "B": 4}),
        ("sum(line.qty for line in input.order.lines)", 7),
        ("[(a, b) for a in range(2) for b in range(2) if a != b]", [(0, 1), (1, 0)]),
        ("[k for k, v in outputs.fetch.items()]", ["status"]),
        ("[item for item in result]", [1, 2, 3]),
        ("[[y for y in range(x)] for x in range(3)]", [[], [0], [0, 1]]),
    ],
)
def test_comprehensions(source, expected):
    assert evaluate(source) == expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ('f"hello {input.name}"', "hello ada"),
        ('f"{variables.total:.2f}"', "10.50"),
        ('f"{input.x:>4}|"', "   2|"),
        ('f"{input.name!r}"', "'ada'"),
        ('f"{now:%Y}"', "2024"),
    ],
)
def test_f_strings(source, expected):
    assert evaluate(source) == expected


def test_missing_key_error_names_the_key_and_where_it_was_looked_up():
    with pytest.raises(ExpressionEvaluationError) as caught:
        evaluate("input.order.customer")
    assert "'input.order' has no key 'customer'" in caught.value.message
    with pytest.raises(ExpressionEvaluationError, match="has no key 'nope'"):
        evaluate('input["nope"]')


def test_reading_a_key_of_a_missing_name_is_an_evaluation_error():
    with pytest.raises(ExpressionEvaluationError, match="'payload' is None"):
        evaluate("payload.x")


def test_index_out_of_range_is_an_evaluation_error():
    with pytest.raises(ExpressionEvaluationError, match="out of range"):
        evaluate("result[10]")


@pytest.mark.parametrize("source", ["1 / 0", "1 // 0", "1 % 0", "input.x / (variables.i - 9)"])
def test_zero_division_is_an_evaluation_error(source):
    with pytest.raises(ExpressionEvaluationError, match="division by zero"):
        evaluate(source)


@pytest.mark.parametrize(
    "source",
    ["'a' + 1", "int('x')", "len(5)", "sorted([1, 'a'])", "input.x.upper()", "input.name()"],
)
def test_type_errors_are_evaluation_errors(source):
    with pytest.raises((ExpressionEvaluationError, ExpressionSyntaxError)):
        evaluate(source)


def test_unknown_name_is_a_compile_error_listing_the_available_names():
    with pytest.raises(ExpressionSyntaxError) as caught:
        compile_value({"expr": "inputs.x"})
    message = caught.value.message
    assert message.startswith("unknown name 'inputs'; available: input, variables")
    assert "payload" in message


def test_comprehension_variables_are_only_visible_inside_the_comprehension():
    with pytest.raises(ExpressionSyntaxError, match="unknown name 'x'"):
        compile_value({"expr": "[x for x in result] + [x]"})


@pytest.mark.parametrize("source", ["1 +", "input.", "(1", "if x", "a b", "", "   ", "x = 1"])
def test_syntax_error_is_a_compile_error(source):
    with pytest.raises(ExpressionSyntaxError):
        compile_value({"expr": source})


def test_too_long_source_is_a_compile_error():
    with pytest.raises(ExpressionSyntaxError, match="longer than 2000"):
        compile_value({"expr": "1 + " * 600 + "1"})


def test_too_deep_nesting_is_a_compile_error():
    with pytest.raises(ExpressionSyntaxError, match="nested deeper"):
        compile_value({"expr": "-" * 500 + "1"})


def test_too_many_nodes_is_a_compile_error():
    with pytest.raises(ExpressionSyntaxError, match="syntax nodes"):
        compile_value({"expr": "[" + ",".join(["1"] * 999) + "]"})


def test_expressions_do_not_mutate_the_names_they_read():
    names = {"input": {"tags": ["a"]}, "variables": {}}
    for source in ("input.tags.append(1)", "input.update({'x': 1})", "input.tags.pop()"):
        with pytest.raises((ExpressionSyntaxError, ExpressionEvaluationError)):
            compile_value({"expr": source}).evaluate(names)
    assert names == {"input": {"tags": ["a"]}, "variables": {}}


def test_comprehension_does_not_leak_variables_into_the_names():
    names = {"result": [1, 2]}
    compile_value({"expr": "[item for item in result]"}).evaluate(names)
    assert names == {"result": [1, 2]}


def test_results_are_plain_data():
    assert evaluate("input.order") is NAMES["input"]["order"]
    assert evaluate("[input.x, {'k': [1.5, None]}]") == [2, {"k": [1.5, None]}]
