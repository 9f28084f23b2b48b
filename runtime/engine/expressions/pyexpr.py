"""Safe Python expressions: checked once against an allowlist, evaluated by simpleeval.

Evaluation is done by `simpleeval <https://pypi.org/project/simpleeval/>`_ (a subclass of
``EvalWithCompoundTypes``), walking a tree parsed once at compile time and handed to it
with ``previously_parsed=``: nothing is parsed again per evaluation.

Why a guard layer on top of simpleeval? simpleeval is a deny-list sandbox: it refuses
``_``-prefixed attributes and a list of dangerous functions, but otherwise reads any
attribute of any value. Workflow expressions are written by definition authors and run
inside the engine, so we want an allowlist and deterministic bounds as well:

1. **Static check** (``ExpressionChecker``, at compile time): only the syntax nodes in
   ``_ALLOWED_NODES``; only the names in ``ALLOWED_NAMES`` (plus comprehension variables);
   only the functions of ``guards.SAFE_FUNCTIONS``, called, never passed around; only
   method names some allowlisted type has; no private or frame-related attribute; constant
   format specifications; bounded source length, node count and nesting depth. Most escape
   attempts fail here, as ``ExpressionSyntaxError``, before anything runs.
2. **Evaluator** (``WeftEvaluator``): simpleeval's tree walk with our size-checked operators
   and functions from ``guards``. ``a.b`` on a dict reads the key ``b`` (never a dict
   method); on other values only the data attributes of ``guards.attributes_for``. Method
   calls go through the per-type tables of ``guards.methods_for``. Results of calls, dicts
   and f-strings are size-checked; the comprehensions of one evaluation run at most
   simpleeval's ``MAX_COMPREHENSION_LENGTH`` iterations in total (nested loops included);
   and expressions that can loop or call functions check the CPU time budget
   (``limits.TIME_BUDGET_SECONDS``) every ``_CLOCK_EVERY_NODES`` evaluated nodes. The
   evaluator repeats the checks of step 1 that matter at run time (private attributes,
   unknown functions and names, non-JSON constants), so it stays safe on its own.

Fast path: an expression that is a constant, a name or a dotted path of a name
(``input.order.id``) involves no operator, call or loop, so it is resolved directly, with
the same rules and error messages as the evaluator, without entering simpleeval. Every
other expression goes through simpleeval.

simpleeval evaluators keep state while they run (the names, the comprehension scope, an
iteration counter), so each thread reuses its own evaluator (``threading.local``), and a
fresh one is built in the unlikely case that one is already running on the thread.
"""

from __future__ import annotations

import ast
import operator
import threading
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

from simpleeval import (
    MAX_COMPREHENSION_LENGTH,
    AttributeDoesNotExist,
    EvalWithCompoundTypes,
    FeatureNotAvailable,
    FunctionNotDefined,
    IterableTooLong,
    NameNotDefined,
    NumberTooHigh,
    OperatorNotDefined,
)

from .errors import ExpressionSyntaxError
from .guards import (
    ALL_METHOD_NAMES,
    BINARY_OPERATORS,
    SAFE_FUNCTIONS,
    attributes_for,
    charge_built,
    check_size,
    is_forbidden_attribute,
    methods_for,
    safe_repr,
    safe_str,
)
from .limits import (
    MAX_AST_DEPTH,
    MAX_AST_NODES,
    MAX_EXPR_LENGTH,
    MAX_STRING_LENGTH,
    Budget,
    LimitExceeded,
)

Names = dict[str, Any]

# How many evaluated nodes pass between two clock reads in a budgeted evaluation.
_CLOCK_EVERY_NODES = 64


class EvaluationFailure(Exception):
    """A failure with a message written for the workflow author."""


_BINOPS = {
    ast.Add: "+",
    ast.Sub: "-",
    ast.Mult: "*",
    ast.Div: "/",
    ast.FloorDiv: "//",
    ast.Mod: "%",
    ast.Pow: "**",
    ast.LShift: "<<",
    ast.RShift: ">>",
    ast.BitOr: "|",
    ast.BitAnd: "&",
    ast.BitXor: "^",
}
_UNARY = {
    ast.USub: operator.neg,
    ast.UAdd: operator.pos,
    ast.Not: operator.not_,
    ast.Invert: operator.invert,
}
_COMPARE = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
    ast.Is: operator.is_,
    ast.IsNot: operator.is_not,
}
# The operator table handed to simpleeval: ours are size-checked (see ``guards``).
OPERATORS: dict[type, Callable[..., Any]] = {
    **{node: BINARY_OPERATORS[symbol] for node, symbol in _BINOPS.items()},
    **_UNARY,
    **_COMPARE,
}

_ALLOWED_NODES = (
    ast.Expression,
    ast.Constant,
    ast.Name,
    ast.Load,
    ast.Store,
    ast.Attribute,
    ast.Subscript,
    ast.Slice,
    ast.BinOp,
    ast.UnaryOp,
    ast.BoolOp,
    ast.And,
    ast.Or,
    ast.Compare,
    ast.IfExp,
    ast.Call,
    ast.keyword,
    ast.List,
    ast.Tuple,
    ast.Dict,
    ast.ListComp,
    ast.DictComp,
    ast.GeneratorExp,
    ast.comprehension,
    ast.JoinedStr,
    ast.FormattedValue,
    *_BINOPS,
    *_UNARY,
    *_COMPARE,
)
_CONSTANT_TYPES = (str, int, float, bool, type(None))
_CONSTANT_TYPE_SET = frozenset(_CONSTANT_TYPES)
_FRIENDLY = {
    ast.Lambda: "lambda",
    ast.NamedExpr: "assignment expressions (:=)",
    ast.SetComp: "set comprehensions",
    ast.Set: "sets",
    ast.Starred: "* unpacking",
    ast.Await: "await",
    ast.Yield: "yield",
    ast.YieldFrom: "yield",
    ast.MatMult: "the @ operator",
}
# Values an evaluated node may produce without a closer look (everything else is checked
# for being a function, class or module, which are never values).
_PLAIN_TYPES = frozenset({str, int, float, bool, type(None), list, tuple, dict})


def _describe(node: ast.AST) -> str:
    try:
        text = ast.unparse(node)
    except Exception:  # pragma: no cover - unparse of a checked tree does not fail
        return "value"
    return text if len(text) <= 80 else text[:77] + "..."


# -- static check ------------------------------------------------------------------------


class ExpressionChecker:
    """Parses one expression and checks it against the allowlist; keeps the tree."""

    def __init__(self, source: str, allowed_names: tuple[str, ...]) -> None:
        self.source = source
        self.allowed_names = allowed_names
        # Whether evaluation may loop, call or repeat (it then gets a time budget), and
        # whether the result may be a new, possibly large, value (it is then weighed).
        self.needs_budget = False
        self.builds_values = False
        # Comprehension iterables whose items are unpacked into a tuple of loop variables,
        # with the shape of that tuple (see ``UnpackShape``).
        self.unpack_shapes: dict[ast.expr, UnpackShape] = {}
        # Comprehension element expressions: each value they produce is charged to the
        # evaluation's allocation budget as it is built, so a comprehension stops early
        # instead of building its whole list before the result is weighed.
        self.element_nodes: set[ast.expr] = set()

    def check(self) -> ast.expr:
        """The checked expression node; raises ``ExpressionSyntaxError``."""
        source = self.source
        if len(source) > MAX_EXPR_LENGTH:
            self._fail(f"expression longer than {MAX_EXPR_LENGTH} characters")
        if not source.strip():
            self._fail("expression is empty")
        try:
            tree = ast.parse(source.strip(), mode="eval")
        except SyntaxError as exc:
            raise ExpressionSyntaxError(f"invalid syntax: {exc.msg}", source) from None
        except (ValueError, RecursionError, MemoryError) as exc:
            raise ExpressionSyntaxError(f"invalid expression: {exc}", source) from None
        self._check_shape(tree)
        self._visit(tree.body, frozenset())
        return tree.body

    def _fail(self, message: str) -> None:
        raise ExpressionSyntaxError(message, self.source)

    def _check_shape(self, tree: ast.AST) -> None:
        # Iterative, so a pathological tree cannot exhaust the Python stack here; it also
        # bounds the depth of the recursive walks that follow (ours and simpleeval's).
        count = 0
        stack: list[tuple[ast.AST, int]] = [(tree, 0)]
        while stack:
            node, depth = stack.pop()
            count += 1
            if count > MAX_AST_NODES:
                self._fail(f"expression has more than {MAX_AST_NODES} syntax nodes")
            if depth > MAX_AST_DEPTH:
                self._fail(f"expression nested deeper than {MAX_AST_DEPTH} levels")
            if not isinstance(node, _ALLOWED_NODES):
                what = _FRIENDLY.get(type(node), type(node).__name__)
                self._fail(f"{what} not allowed in expressions")
            stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))

    def _visit(self, node: ast.AST, local: frozenset[str]) -> None:
        check = getattr(self, f"_check_{type(node).__name__}", None)
        if check is not None:
            check(node, local)
        else:
            for child in ast.iter_child_nodes(node):
                self._visit(child, local)

    def _unknown_name(self, name: str) -> None:
        self._fail(
            f"unknown name '{name}'; available: {', '.join(self.allowed_names)};"
            f" functions: {', '.join(SAFE_FUNCTIONS)}"
        )

    def _check_attribute_name(self, attr: str) -> None:
        if is_forbidden_attribute(attr):
            self._fail(f"access to attribute '{attr}' is not allowed")

    def _check_Constant(self, node: ast.Constant, local: frozenset[str]) -> None:
        value = node.value
        if not isinstance(value, _CONSTANT_TYPES):
            self._fail(f"{type(value).__name__} literals are not supported")
        if isinstance(value, str) and len(value) > MAX_STRING_LENGTH:
            self._fail("string literal too long")

    def _check_Name(self, node: ast.Name, local: frozenset[str]) -> None:
        name = node.id
        if name not in local and name not in self.allowed_names:
            if name in SAFE_FUNCTIONS:
                self._fail(f"'{name}' is a function: call it, as in {name}(...)")
            self._unknown_name(name)

    def _check_Attribute(self, node: ast.Attribute, local: frozenset[str]) -> None:
        self._check_attribute_name(node.attr)
        self._visit(node.value, local)

    def _check_BinOp(self, node: ast.BinOp, local: frozenset[str]) -> None:
        if isinstance(node.op, (ast.Add, ast.Mult, ast.BitOr)):
            self.builds_values = True
        if isinstance(node.op, ast.Mult):
            self.needs_budget = True
        self._visit(node.left, local)
        self._visit(node.right, local)

    def _check_Call(self, node: ast.Call, local: frozenset[str]) -> None:
        self.builds_values = self.needs_budget = True
        for arg in node.args:
            self._visit(arg, local)
        for keyword in node.keywords:
            if keyword.arg is None:
                self._fail("** unpacking in calls is not allowed")
            self._visit(keyword.value, local)
        func = node.func
        if isinstance(func, ast.Name):
            if func.id not in SAFE_FUNCTIONS or func.id in local:
                if func.id in self.allowed_names or func.id in local:
                    self._fail(f"'{func.id}' is not callable")
                self._unknown_name(func.id)
        elif isinstance(func, ast.Attribute):
            self._check_attribute_name(func.attr)
            if func.attr not in ALL_METHOD_NAMES:
                self._fail(f"unknown method '{func.attr}'")
            self._visit(func.value, local)
        else:
            self._fail("only functions and methods can be called")

    def _check_List(self, node: ast.List | ast.Tuple | ast.Dict, local: frozenset[str]) -> None:
        self.builds_values = True
        for child in ast.iter_child_nodes(node):
            self._visit(child, local)

    _check_Tuple = _check_List
    _check_Dict = _check_List

    def _check_JoinedStr(self, node: ast.JoinedStr, local: frozenset[str]) -> None:
        self.builds_values = self.needs_budget = True
        for value in node.values:
            if isinstance(value, ast.FormattedValue):
                self._visit(value.value, local)
                self._check_format_spec(value.format_spec)
            else:
                self._visit(value, local)

    def _check_format_spec(self, node: ast.expr | None) -> None:
        if node is None:
            return
        if not isinstance(node, ast.JoinedStr) or not all(
            isinstance(part, ast.Constant) and isinstance(part.value, str) for part in node.values
        ):
            self._fail("format specifications must be constant")
        spec = "".join(part.value for part in node.values)  # type: ignore[attr-defined]
        digits = 0
        for char in spec + " ":
            if char.isdigit():
                digits += 1
                if digits > 3:
                    self._fail("format width or precision too large")
            else:
                digits = 0

    def _check_ListComp(
        self, node: ast.ListComp | ast.GeneratorExp | ast.DictComp, local: frozenset[str]
    ) -> None:
        self.builds_values = self.needs_budget = True
        for generator in node.generators:
            if generator.is_async:
                self._fail("async comprehensions are not allowed")
            self._visit(generator.iter, local)
            local = local | set(self._targets(generator.target))
            if isinstance(generator.target, ast.Tuple):
                self.unpack_shapes[generator.iter] = _shape(generator.target)
            for test in generator.ifs:
                self._visit(test, local)
        if isinstance(node, ast.DictComp):
            self._visit(node.key, local)
            self._visit(node.value, local)
            self.element_nodes.update((node.key, node.value))
        else:
            self._visit(node.elt, local)
            self.element_nodes.add(node.elt)

    _check_GeneratorExp = _check_ListComp
    _check_DictComp = _check_ListComp

    def _targets(self, target: ast.expr) -> list[str]:
        if isinstance(target, ast.Name):
            return [target.id]
        if isinstance(target, ast.Tuple):
            return [name for element in target.elts for name in self._targets(element)]
        self._fail("loop variables must be names or tuples of names")
        raise AssertionError  # unreachable: _fail raises


# A tuple of loop variables: ``None`` for a name, a tuple of shapes for a nested tuple.
UnpackShape = tuple[Any, ...] | None


def _shape(target: ast.expr) -> UnpackShape:
    if isinstance(target, ast.Tuple):
        return tuple(_shape(element) for element in target.elts)
    return None


def _check_unpack(value: Any, shape: UnpackShape) -> None:
    if shape is None:
        return
    if not isinstance(value, (list, tuple)) or len(value) != len(shape):
        raise EvaluationFailure(f"cannot unpack {type(value).__name__} into loop variables")
    for item, inner in zip(value, shape, strict=True):
        _check_unpack(item, inner)


def _unpacked_items(iterable: Any, shape: UnpackShape) -> Iterator[Any]:
    # simpleeval binds loop variables with zip(), which would silently drop or leave
    # unbound what does not match; Python (and we) refuse a mismatch.
    for item in iterable:
        _check_unpack(item, shape)
        yield item


# -- reading data ------------------------------------------------------------------------


def read_attribute(obj: Any, attr: str, where: ast.AST) -> Any:
    """``obj.attr``: a key of a dict, or an allowlisted data attribute of a date."""
    if isinstance(obj, dict):
        try:
            return obj[attr]
        except KeyError:
            raise EvaluationFailure(f"'{_describe(where)}' has no key '{attr}'") from None
    if attr in attributes_for(obj):
        return getattr(obj, attr)
    if obj is None:
        raise EvaluationFailure(f"'{_describe(where)}' is None; cannot read '{attr}'")
    raise EvaluationFailure(
        f"'{_describe(where)}' ({type(obj).__name__}) has no attribute '{attr}'"
    )


def read_item(obj: Any, key: Any, where: ast.AST) -> Any:
    """``obj[key]`` on a dict, list, tuple or string."""
    if isinstance(obj, dict):
        try:
            return obj[key]
        except KeyError:
            raise EvaluationFailure(f"'{_describe(where)}' has no key {safe_repr(key)}") from None
    if isinstance(obj, (list, tuple, str)):
        try:
            return obj[key]
        except IndexError:
            raise EvaluationFailure(
                f"index {key!r} out of range for '{_describe(where)}'"
            ) from None
    if obj is None:
        raise EvaluationFailure(f"'{_describe(where)}' is None")
    raise EvaluationFailure(f"'{_describe(where)}' ({type(obj).__name__}) cannot be subscripted")


# -- the simpleeval evaluator ------------------------------------------------------------


class WeftEvaluator(EvalWithCompoundTypes):
    """simpleeval with our operators, functions, attribute and method rules.

    Only the handlers whose rules differ from simpleeval's are overridden: constants (JSON
    scalars only), names (a name not passed is ``None``), attributes (dict keys, no object
    attributes), subscripts and calls (allowlisted types and per-type method tables,
    clearer messages), f-strings (conversions, and a bound on the total length) and dict
    displays (size check).
    Constants, operators, comparisons, boolean logic, conditionals, slices, list and tuple
    displays and comprehensions are simpleeval's own.
    """

    def __init__(self, allowed_names: tuple[str, ...]) -> None:
        super().__init__(operators=dict(OPERATORS), functions=dict(SAFE_FUNCTIONS), names={})
        # EvalWithCompoundTypes adds list/tuple/dict/set constructors: use ours only.
        self.functions = dict(SAFE_FUNCTIONS)
        # Statements and sets never reach the evaluator (the static check refuses them);
        # dropping their handlers makes that a second, independent refusal.
        for kind in (ast.Expr, ast.Assign, ast.AugAssign, ast.Import, ast.Set):
            self.nodes.pop(kind, None)
        self.allowed_names = frozenset(allowed_names)
        self.in_use = False

    def run(self, source: str, tree: ast.expr, names: Names) -> Any:
        self.in_use = True
        self.names = names
        try:
            return self.eval(source, previously_parsed=tree)
        finally:
            self.names = {}
            self.in_use = False

    def _eval(self, node: ast.AST) -> Any:
        try:
            handler = self.nodes[type(node)]
        except KeyError:
            raise FeatureNotAvailable(f"{type(node).__name__} is not available") from None
        result = handler(node)
        # Replaces simpleeval's recursive walk of every intermediate value, which would
        # cost time proportional to the size of the inputs at every node. Handlers here
        # never produce functions; the final result is weighed (which refuses callables
        # anywhere inside it) when the expression builds values.
        if type(result) not in _PLAIN_TYPES and (
            callable(result) or isinstance(result, ModuleType)
        ):
            raise FeatureNotAvailable("functions, classes and modules are not values")
        return result

    def _eval_constant(self, node: ast.Constant) -> Any:
        value = node.value
        kind = type(value)
        if kind not in _CONSTANT_TYPE_SET:
            raise FeatureNotAvailable(f"{kind.__name__} literals are not supported")
        if kind is str and len(value) > MAX_STRING_LENGTH:
            raise LimitExceeded("string literal too long")
        return value

    def _eval_name(self, node: ast.Name) -> Any:
        try:
            return self.names[node.id]
        except KeyError:
            if node.id in self.allowed_names:
                return None
            raise NameNotDefined(node.id, self.expr) from None

    def _eval_attribute(self, node: ast.Attribute) -> Any:
        attr = node.attr
        if is_forbidden_attribute(attr):
            raise FeatureNotAvailable(f"access to attribute '{attr}' is not allowed")
        obj = self._eval(node.value)
        if type(obj) is dict:
            try:
                return obj[attr]
            except KeyError:
                pass
        return read_attribute(obj, attr, node.value)

    def _eval_subscript(self, node: ast.Subscript) -> Any:
        obj = self._eval(node.value)
        return read_item(obj, self._eval(node.slice), node.value)

    def _eval_call(self, node: ast.Call) -> Any:
        func = node.func
        if isinstance(func, ast.Name):
            return check_size(super()._eval_call(node))
        if not isinstance(func, ast.Attribute):
            raise FeatureNotAvailable("only functions and methods can be called")
        name = func.attr
        if is_forbidden_attribute(name):
            raise FeatureNotAvailable(f"access to attribute '{name}' is not allowed")
        obj = self._eval(func.value)
        table = methods_for(obj)
        method = table.get(name) if table is not None else None
        if method is None:
            raise EvaluationFailure(
                f"'{_describe(func.value)}' ({type(obj).__name__}) has no method '{name}'"
            )
        args = [self._eval(arg) for arg in node.args]
        kwargs = {keyword.arg: self._eval(keyword.value) for keyword in node.keywords}
        return check_size(method(obj, *args, **kwargs))

    def _eval_dict(self, node: ast.Dict) -> Any:
        return check_size(super()._eval_dict(node))

    def _eval_joinedstr(self, node: ast.JoinedStr) -> str:
        pieces = []
        total = 0
        for value in node.values:
            piece = self._eval(value)
            total += len(piece)
            if total > MAX_STRING_LENGTH:
                raise LimitExceeded(f"string longer than {MAX_STRING_LENGTH} characters")
            pieces.append(piece)
        return "".join(pieces)

    def _eval_formattedvalue(self, node: ast.FormattedValue) -> str:
        value = self._eval(node.value)
        if node.conversion == ord("s"):
            value = safe_str(value)
        elif node.conversion in (ord("r"), ord("a")):
            value = safe_repr(value)
        spec = node.format_spec
        if spec is None:
            return safe_str(value)
        text = "".join(part.value for part in spec.values)  # type: ignore[attr-defined]
        return check_size(format(value, text))


class BudgetedEvaluator(WeftEvaluator):
    """Checks the evaluation's CPU time budget every ``_CLOCK_EVERY_NODES`` nodes."""

    def __init__(self, allowed_names: tuple[str, ...]) -> None:
        super().__init__(allowed_names)
        self.budget: Budget | None = None
        self.unpack_shapes: dict[ast.expr, UnpackShape] | None = None
        self.element_nodes: frozenset[ast.expr] = frozenset()
        self._countdown = _CLOCK_EVERY_NODES

    def run_with(
        self,
        budget: Budget,
        unpack_shapes: dict[ast.expr, UnpackShape] | None,
        element_nodes: frozenset[ast.expr],
        source: str,
        tree: ast.expr,
        names: Names,
    ) -> Any:
        self.budget = budget
        self.unpack_shapes = unpack_shapes
        self.element_nodes = element_nodes
        self._countdown = _CLOCK_EVERY_NODES
        try:
            return self.run(source, tree, names)
        finally:
            self.budget = self.unpack_shapes = None
            self.element_nodes = frozenset()

    def _eval(self, node: ast.AST) -> Any:
        self._countdown -= 1
        if self._countdown <= 0:
            self._countdown = _CLOCK_EVERY_NODES
            if self.budget is not None:
                self.budget.check_clock()
        result = super()._eval(node)
        if node in self.element_nodes and self.budget is not None:
            charge_built(result)
        if self.unpack_shapes is not None and node in self.unpack_shapes:
            return _unpacked_items(result, self.unpack_shapes[node])
        return result


class _Evaluators(threading.local):
    def __init__(self) -> None:
        self.plain: dict[tuple[str, ...], WeftEvaluator] = {}
        self.budgeted: dict[tuple[str, ...], BudgetedEvaluator] = {}


_EVALUATORS = _Evaluators()


def _plain_evaluator(allowed_names: tuple[str, ...]) -> WeftEvaluator:
    evaluator = _EVALUATORS.plain.get(allowed_names)
    if evaluator is None:
        evaluator = _EVALUATORS.plain[allowed_names] = WeftEvaluator(allowed_names)
    elif evaluator.in_use:  # re-entered on this thread: never share a running evaluator
        evaluator = WeftEvaluator(allowed_names)
    return evaluator


def _budgeted_evaluator(allowed_names: tuple[str, ...]) -> BudgetedEvaluator:
    evaluator = _EVALUATORS.budgeted.get(allowed_names)
    if evaluator is None:
        evaluator = _EVALUATORS.budgeted[allowed_names] = BudgetedEvaluator(allowed_names)
    elif evaluator.in_use:
        evaluator = BudgetedEvaluator(allowed_names)
    return evaluator


# -- compiled programs -------------------------------------------------------------------


class Program:
    """One checked expression: ``run(names, budget)`` evaluates it (raw exceptions)."""

    __slots__ = (
        "allowed_names",
        "builds_values",
        "element_nodes",
        "needs_budget",
        "run",
        "source",
        "tree",
        "unpack_shapes",
    )

    def __init__(self, source: str, allowed_names: tuple[str, ...]) -> None:
        checker = ExpressionChecker(source, allowed_names)
        self.tree = checker.check()
        self.source = source
        self.allowed_names = allowed_names
        self.needs_budget = checker.needs_budget
        self.builds_values = checker.builds_values
        self.unpack_shapes = checker.unpack_shapes or None
        self.element_nodes = frozenset(checker.element_nodes)
        self.run: Callable[[Names, Budget | None], Any] = (
            _fast_path(self.tree) or self._run_simpleeval
        )

    def _run_simpleeval(self, names: Names, budget: Budget | None) -> Any:
        if budget is None:
            return _plain_evaluator(self.allowed_names).run(self.source, self.tree, names)
        return _budgeted_evaluator(self.allowed_names).run_with(
            budget, self.unpack_shapes, self.element_nodes, self.source, self.tree, names
        )


def _fast_path(tree: ast.expr) -> Callable[[Names, Budget | None], Any] | None:
    """A direct reader for a constant, a name or a dotted path of a name; else ``None``.

    These forms involve no operator, call or loop, so reading them directly is exactly
    what the evaluator would do (same rules through ``read_attribute``, same messages),
    only without the tree walk.
    """
    if isinstance(tree, ast.Constant):
        value = tree.value
        return lambda names, budget: value
    steps: list[ast.Attribute] = []
    node: ast.expr = tree
    while isinstance(node, ast.Attribute):
        steps.append(node)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    root = node.id
    path = [(step.attr, step.value) for step in reversed(steps)]

    def read_path(names: Names, budget: Budget | None) -> Any:
        obj = names.get(root)
        for attr, where in path:
            if type(obj) is dict and attr in obj:
                obj = obj[attr]
            else:
                obj = read_attribute(obj, attr, where)
        return obj

    return read_path


# -- error messages ----------------------------------------------------------------------


def describe_failure(exc: BaseException) -> str:
    """A message for the workflow author, for any exception raised while evaluating."""
    if isinstance(exc, (EvaluationFailure, LimitExceeded)):
        return str(exc)
    if isinstance(exc, NameNotDefined):
        return f"name '{exc.name}' is not defined"
    if isinstance(exc, FunctionNotDefined):
        return f"unknown function '{exc.func_name}'"
    if isinstance(exc, AttributeDoesNotExist):
        return f"attribute '{exc.attr}' does not exist"
    if isinstance(exc, OperatorNotDefined):
        return "operator not supported"
    if isinstance(exc, IterableTooLong):
        # The static check refuses long literals, so only comprehensions get here.
        return f"comprehensions ran more than {MAX_COMPREHENSION_LENGTH} iterations in total"
    if isinstance(exc, NumberTooHigh):
        return "number too large"
    if isinstance(exc, FeatureNotAvailable):
        return f"not allowed: {exc}"
    if isinstance(exc, ZeroDivisionError):
        return "division by zero"
    if isinstance(exc, KeyError):
        try:
            key = safe_repr(exc.args[0]) if exc.args else "?"
        except Exception:
            key = "?"
        return f"key {key} not found"
    if isinstance(exc, RecursionError):
        return "evaluation nested too deeply"
    if isinstance(exc, MemoryError):
        return "evaluation ran out of memory"
    try:
        detail = str(exc)
    except Exception:
        detail = ""
    return f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
