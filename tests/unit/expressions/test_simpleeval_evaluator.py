"""The ``expr`` evaluator: simpleeval behind our static check, fast path, threads, limits."""

import ast
import datetime as dt
import threading

import pytest
import simpleeval
from hypothesis import HealthCheck, given, settings

from runtime.engine.expressions import (
    ALLOWED_NAMES,
    ExpressionEvaluationError,
    compile_value,
    pyexpr,
)
from runtime.engine.expressions.limits import CURRENT_BUDGET, Budget

from .test_properties import NAMES as PROPERTY_NAMES
from .test_properties import assert_plain, expressions
from .test_sandbox_escapes import EXPRESSION_PAYLOADS

NAMES = {
    "input": {"order": {"id": 7, "lines": [{"qty": 3}]}, "pairs": [[1, 2], [3, 4]]},
    "variables": {"i": 41},
    "now": dt.datetime(2024, 5, 17, 12, 30, tzinfo=dt.UTC),
}


def evaluate(source, names=NAMES):
    return compile_value({"expr": source}).evaluate(names)


def run_evaluator_alone(source, names):
    """Evaluate with the simpleeval evaluator only: no static check at all."""
    tree = ast.parse(source.strip(), mode="eval").body
    budget = Budget()
    token = CURRENT_BUDGET.set(budget)
    try:
        return pyexpr.BudgetedEvaluator(ALLOWED_NAMES).run_with(budget, None, source, tree, names)
    finally:
        CURRENT_BUDGET.reset(token)


def test_the_evaluator_is_simpleeval():
    assert issubclass(pyexpr.WeftEvaluator, simpleeval.EvalWithCompoundTypes)


def test_general_expressions_are_evaluated_by_simpleeval_without_reparsing(monkeypatch):
    compiled = compile_value({"expr": "variables.i + 1"})
    calls = []
    original = simpleeval.EvalWithCompoundTypes.eval

    def spy(self, expr, previously_parsed=None):
        calls.append(previously_parsed)
        return original(self, expr, previously_parsed)

    def no_parse(*args, **kwargs):
        raise AssertionError("parsed again at evaluation")

    monkeypatch.setattr(simpleeval.EvalWithCompoundTypes, "eval", spy)
    monkeypatch.setattr(simpleeval.SimpleEval, "parse", staticmethod(no_parse))
    monkeypatch.setattr(ast, "parse", no_parse)
    assert [compiled.evaluate({"variables": {"i": i}}) for i in range(3)] == [1, 2, 3]
    assert len(calls) == 3
    assert all(isinstance(tree, ast.BinOp) for tree in calls)


@pytest.mark.parametrize("source", ["42", "'text'", "None", "variables", "input.order.id"])
def test_constants_names_and_dotted_paths_take_the_fast_path(source, monkeypatch):
    expected = evaluate(source)

    def refuse(*args, **kwargs):
        raise AssertionError("the fast path entered simpleeval")

    monkeypatch.setattr(pyexpr.WeftEvaluator, "run", refuse)
    assert evaluate(source) == expected


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("input.order.customer", "'input.order' has no key 'customer'"),
        ("payload.x", "'payload' is None; cannot read 'x'"),
        ("now.year.x", "'now.year' (int) has no attribute 'x'"),
        ("now.tzinfo", "'now' (datetime) has no attribute 'tzinfo'"),
    ],
)
def test_fast_path_and_evaluator_agree_on_errors(path, message):
    for source in (path, f"{path} if True else 0"):  # the second goes through simpleeval
        with pytest.raises(ExpressionEvaluationError) as caught:
            evaluate(source)
        assert caught.value.message == message


def test_fast_path_and_evaluator_agree_on_values():
    for path in ("input.order.id", "now.year", "variables", "payload", "input.order.lines"):
        assert evaluate(path) == evaluate(f"{path} if True else 0")


def test_evaluations_on_many_threads_do_not_interfere():
    compiled = compile_value({"expr": "[x * variables.k for x in input.items if x % 2]"})
    failures = []

    def work(k):
        names = {"input": {"items": list(range(20))}, "variables": {"k": k}}
        expected = [x * k for x in range(20) if x % 2]
        try:
            for _ in range(300):
                if compiled.evaluate(names) != expected:
                    failures.append(k)
        except Exception as exc:  # a thread's exception would otherwise only be a warning
            failures.append(repr(exc))

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []


def test_an_evaluator_already_running_on_the_thread_is_not_shared():
    evaluate("variables.i + 1")  # makes sure this thread has its evaluator
    evaluator = pyexpr._plain_evaluator(ALLOWED_NAMES)
    evaluator.in_use = True
    try:
        assert pyexpr._plain_evaluator(ALLOWED_NAMES) is not evaluator
        assert evaluate("variables.i + 1") == 42
    finally:
        evaluator.in_use = False
    assert pyexpr._plain_evaluator(ALLOWED_NAMES) is evaluator


def test_names_are_not_kept_by_the_evaluator_after_evaluation():
    evaluate("variables.i + 1")
    assert pyexpr._plain_evaluator(ALLOWED_NAMES).names == {}


@pytest.mark.parametrize(
    "source",
    ["[a for a, b in [[1, 2, 3]]]", "[a for a, b in ['ab']]", "[a for a, (b, c) in [[1, 2]]]"],
)
def test_loop_variables_that_do_not_match_are_an_error(source):
    with pytest.raises(ExpressionEvaluationError, match="cannot unpack"):
        evaluate(source)


def test_nested_loop_variables_unpack():
    assert evaluate("[a + c for a, (b, c) in [[1, [2, 3]]]]") == [4]
    assert evaluate("[a * b for a, b in input.pairs]") == [2, 12]


def test_comprehensions_share_simpleevals_iteration_cap():
    assert len(evaluate("[x for x in range(10000)]")) == 10000
    with pytest.raises(ExpressionEvaluationError, match="more than 10000 iterations"):
        evaluate("[1 for a in range(200) for b in range(200) if False]")


def test_a_slow_expression_is_stopped_by_the_time_budget():
    with pytest.raises(ExpressionEvaluationError, match="time budget of 250 ms"):
        evaluate("[len(sorted(range(10000))) for x in range(9000)]")


@pytest.mark.parametrize(
    ("exception", "message"),
    [
        (simpleeval.NameNotDefined("foo", "e"), "name 'foo' is not defined"),
        (simpleeval.FunctionNotDefined("getattr", "e"), "unknown function 'getattr'"),
        (simpleeval.AttributeDoesNotExist("x", "e"), "attribute 'x' does not exist"),
        (simpleeval.FeatureNotAvailable("sets"), "not allowed: sets"),
        (simpleeval.IterableTooLong("long"), "more than 10000 iterations in total"),
        (simpleeval.NumberTooHigh("big"), "number too large"),
        (simpleeval.OperatorNotDefined("@", "e"), "operator not supported"),
        (ZeroDivisionError("division by zero"), "division by zero"),
        (KeyError("foo"), "key 'foo' not found"),
        (TypeError("bad operand"), "TypeError: bad operand"),
    ],
)
def test_every_failure_gets_a_message_for_the_author(exception, message):
    assert message in pyexpr.describe_failure(exception)


# -- the evaluator on its own, without the static check ----------------------------------


@pytest.mark.parametrize(
    "source",
    [
        "''.__class__",
        "input.__class__",
        "input.get.__self__",
        "now.__reduce__()",
        "'{0}'.format(1)",
        "input.mro()",
        "getattr(input, 'x')",
        "type(1)",
        "__import__('os')",
        "len",
        "{1, 2}",
        "(lambda: 1)()",
        "(y := 1)",
        "b'x'",
        "1j",
        "...",
    ],
)
def test_the_evaluator_alone_refuses_what_the_static_check_refuses(source):
    with pytest.raises(Exception):
        run_evaluator_alone(source, {"input": {"x": 1}, "now": NAMES["now"]})


@pytest.mark.parametrize("source", EXPRESSION_PAYLOADS)
def test_the_evaluator_alone_leaks_nothing_from_the_escape_corpus(source):
    names = {"input": {"x": 1, "lines": [1], "name": "n"}, "result": [1, 2], "now": None}
    try:
        value = run_evaluator_alone(source, names)
    except Exception:
        value = None
    assert_plain(value)
    assert names["input"] == {"x": 1, "lines": [1], "name": "n"}


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(expressions)
def test_random_expressions_on_the_evaluator_alone_return_only_plain_data(source):
    try:
        value = run_evaluator_alone(source, PROPERTY_NAMES)
    except Exception:
        return
    assert_plain(value)
