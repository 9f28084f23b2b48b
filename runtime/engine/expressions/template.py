"""Sandboxed Jinja2 string templates.

Jinja's ``ImmutableSandboxedEnvironment`` blocks private attributes and mutation of data;
on top of it this module keeps only a small allowlist of filters and globals, sizes every
operator that can allocate, and makes every loop and call tick the render's budget (the
parsed template is rewritten so that each ``{% for %}`` iterates through ``guard_loop``
and each ``~`` concatenation through ``guard_concat``). Undefined values (a missing key,
a name not passed in) render as an empty string and may be chained: ``{{ input.a.b }}``.
"""

from __future__ import annotations

import functools
import json
import types
from collections.abc import Callable, Iterator
from typing import Any

from jinja2 import nodes
from jinja2.exceptions import SecurityError, TemplateSyntaxError
from jinja2.filters import FILTERS
from jinja2.runtime import ChainableUndefined, Undefined
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import Namespace, pass_environment
from jinja2.visitor import NodeTransformer

from .errors import ExpressionSyntaxError
from .guards import (
    BINARY_OPERATORS,
    DICT_METHODS,
    STR_METHODS,
    attributes_for,
    charge_built,
    check_size,
    check_weight,
    is_forbidden_attribute,
    methods_for,
    safe_dict,
    safe_range,
    safe_round,
    safe_str,
    str_join,
    str_replace,
    weigh,
)
from .limits import (
    MAX_STRING_LENGTH,
    MAX_TEMPLATE_LENGTH,
    LimitExceeded,
    charge_current,
    tick_current,
)

_PLAIN_FILTERS = [
    "abs",
    "attr",
    "capitalize",
    "count",
    "d",
    "default",
    "dictsort",
    "first",
    "float",
    "int",
    "items",
    "last",
    "length",
    "list",
    "lower",
    "map",
    "max",
    "min",
    "reject",
    "rejectattr",
    "reverse",
    "select",
    "selectattr",
    "sort",
    "title",
    "trim",
    "truncate",
    "unique",
    "upper",
    "urlencode",
    "wordcount",
]


class BoundMethod:
    """A safe method bound to a value; exposes no attributes of its own."""

    __slots__ = ("_method", "_obj")

    def __init__(self, method: Any, obj: Any) -> None:
        self._method = method
        self._obj = obj

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return check_size(self._method(self._obj, *args, **kwargs))

    def __repr__(self) -> str:
        return "<method>"


def guard_loop(iterable: Any) -> Iterator[Any]:
    """Every template loop iterates through this, so it spends the render's budget."""
    if isinstance(iterable, Undefined):
        return
    for item in iterable:
        tick_current()
        yield item


def guard_concat(*values: Any) -> str:
    pieces = [safe_str(value) if not isinstance(value, Undefined) else "" for value in values]
    total = sum(map(len, pieces))
    if total > MAX_STRING_LENGTH:
        raise LimitExceeded(f"string longer than {MAX_STRING_LENGTH} characters")
    charge_current(total)
    return "".join(pieces)


def guard_output(value: Any) -> str:
    """Every ``{{ ... }}`` and piece of template text goes through this, including output
    captured by ``{% set %}``, ``{% filter %}``, macro and call blocks, which the final
    output length check never sees: their total is charged to the render's budget."""
    if isinstance(value, Undefined):
        return ""
    text = value if type(value) is str else safe_str(check_weight(value))
    charge_current(len(text))
    return text


def _guard_iteration(iterator: Iterator[Any]) -> Iterator[Any]:
    for item in iterator:
        tick_current()
        yield item


# Filters that return (part of) a value they were given rather than building a new one.
_SELECTING_FILTERS = frozenset({"attr", "d", "default", "first", "last", "max", "min"})


def _budgeted(func: Callable[..., Any], *, charges: bool) -> Callable[..., Any]:
    """A filter or test that spends the render's budget: one tick per call, one tick per item
    of a lazy result (``map``, ``select``...), and, for filters that build values, the weight
    of what they built. Jinja calls filters directly (not through ``call``), and filters call
    other filters by name (``map('center', ...)``), so wrapping them here covers both."""

    @functools.wraps(func)  # keeps Jinja's pass_context/pass_environment marker
    def call(*args: Any, **kwargs: Any) -> Any:
        tick_current()
        result = func(*args, **kwargs)
        if isinstance(result, Iterator):
            return _guard_iteration(result)
        check_size(result)
        return charge_built(result) if charges else result

    return call


def _finalize(value: Any) -> Any:
    return check_weight(value) if not isinstance(value, Undefined) else value


@pass_environment
def _join_filter(environment: Any, value: Any, d: str = "", attribute: Any = None) -> str:
    if attribute is not None:
        value = [environment.getitem(item, attribute) for item in value]
    items = [safe_str(item) for item in value]
    return str_join(safe_str(d), items)


@pass_environment
def _sum_filter(environment: Any, iterable: Any, attribute: Any = None, start: Any = 0) -> Any:
    if not isinstance(start, (int, float)):
        raise TypeError("sum adds numbers only")
    return FILTERS["sum"](environment, iterable, attribute, start)


def _round_filter(value: Any, precision: int = 0, method: str = "common") -> Any:
    if method != "common":
        raise TypeError("only method='common' rounding is supported")
    return safe_round(float(value), precision)


def _center_filter(value: Any, width: int = 80) -> str:
    return STR_METHODS["center"](safe_str(value), width)


def _tojson_filter(value: Any, indent: Any = None) -> str:
    weigh(value, MAX_STRING_LENGTH)
    return check_size(json.dumps(value, default=str, indent=None))


def _replace_filter(value: Any, old: str, new: str, count: Any = None) -> str:
    return str_replace(safe_str(value), old, new, -1 if count is None else count)


class _LoopGuards(NodeTransformer):
    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        node.iter = nodes.Call(
            nodes.ImportedName(f"{__name__}.guard_loop"), [node.iter], [], None, None
        )
        return node

    def visit_Output(self, node: nodes.Output) -> nodes.Node:
        self.generic_visit(node)
        node.nodes = [
            nodes.Call(nodes.ImportedName(f"{__name__}.guard_output"), [child], [], None, None)
            for child in node.nodes
        ]
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        return nodes.Call(
            nodes.ImportedName(f"{__name__}.guard_concat"), node.nodes, [], None, None
        )


# Values whose attributes templates never read: functions, classes, and our bound methods.
_OPAQUE = (
    BoundMethod,
    type,
    types.FunctionType,
    types.BuiltinFunctionType,
    types.MethodType,
    types.BuiltinMethodType,
    types.MethodWrapperType,
    types.ModuleType,
)


class WeftSandbox(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**", "+", "%", "//", "/", "-"})

    def __init__(self) -> None:
        super().__init__(
            autoescape=False,
            undefined=ChainableUndefined,
            finalize=_finalize,
            optimized=False,  # constant folding would run filters at compile time
            cache_size=0,
            auto_reload=False,
        )
        self.globals.clear()
        self.globals.update(range=safe_range, dict=safe_dict, namespace=Namespace)
        self.filters = {name: FILTERS[name] for name in _PLAIN_FILTERS}
        self.filters.update(
            join=_join_filter,
            sum=_sum_filter,
            round=_round_filter,
            center=_center_filter,
            tojson=_tojson_filter,
            replace=_replace_filter,
            string=safe_str,
        )
        self.filters = {
            name: _budgeted(func, charges=name not in _SELECTING_FILTERS)
            for name, func in self.filters.items()
        }
        self.tests = {name: _budgeted(func, charges=False) for name, func in self.tests.items()}
        self.binop_table = {**self.binop_table, **BINARY_OPERATORS}

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        result = BINARY_OPERATORS[operator](left, right)
        if isinstance(result, (str, list, tuple)):
            # Elements of a new list or tuple are references to values already counted.
            charge_current(len(result))
        return result

    def getattr(self, obj: Any, attribute: str) -> Any:
        if is_forbidden_attribute(attribute):
            raise SecurityError(f"access to attribute {attribute!r} is not allowed")
        if isinstance(obj, Undefined):
            return obj
        if isinstance(obj, dict):
            if attribute in obj:
                return obj[attribute]
            if attribute in DICT_METHODS:
                return BoundMethod(DICT_METHODS[attribute], obj)
            return self.undefined(obj=obj, name=attribute)
        table = methods_for(obj)
        if table is not None or obj is None or isinstance(obj, (int, float)):
            if table is not None and attribute in table:
                return BoundMethod(table[attribute], obj)
            if attribute in attributes_for(obj):
                return getattr(obj, attribute)
            return self.undefined(obj=obj, name=attribute)
        if isinstance(obj, _OPAQUE):
            return self.undefined(obj=obj, name=attribute)
        # Jinja's own objects: loop, namespace, macros, caller, self (blocks).
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        if isinstance(obj, Undefined):
            return obj
        if isinstance(obj, (dict, list, tuple, str)):
            try:
                return obj[argument]
            except (TypeError, LookupError):
                return self.undefined(obj=obj, name=argument)
        if isinstance(argument, str):
            return self.getattr(obj, argument)
        return self.undefined(obj=obj, name=argument)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        tick_current()
        return check_size(super().call(__context, __obj, *args, **kwargs))


_ENVIRONMENT = WeftSandbox()


class _StaticCheck(NodeTransformer):
    def visit_Getattr(self, node: nodes.Getattr) -> nodes.Node:
        if is_forbidden_attribute(node.attr):
            raise SecurityError(f"access to attribute {node.attr!r} is not allowed")
        return self.generic_visit(node)

    def visit_Getitem(self, node: nodes.Getitem) -> nodes.Node:
        key = node.arg.value if isinstance(node.arg, nodes.Const) else None
        if isinstance(key, str) and (key.startswith("__") or key in ("format", "format_map")):
            raise SecurityError(f"access to {key!r} is not allowed")
        return self.generic_visit(node)


def compile_template(source: str) -> Any:
    """Parse, check and compile a template; returns a ``jinja2.Template``."""
    if len(source) > MAX_TEMPLATE_LENGTH:
        raise ExpressionSyntaxError(
            f"template longer than {MAX_TEMPLATE_LENGTH} characters", source
        )
    try:
        tree = _ENVIRONMENT.parse(source)
        _StaticCheck().visit(tree)
        tree = _LoopGuards().visit(tree)
        code = _ENVIRONMENT.compile(tree)
        return _ENVIRONMENT.template_class.from_code(
            _ENVIRONMENT, code, _ENVIRONMENT.make_globals(None), None
        )
    except TemplateSyntaxError as exc:
        raise ExpressionSyntaxError(
            f"template syntax error on line {exc.lineno}: {exc.message}", source
        ) from None
    except SecurityError as exc:
        raise ExpressionSyntaxError(str(exc), source) from None
    except Exception as exc:
        raise ExpressionSyntaxError(f"invalid template: {type(exc).__name__}", source) from None


def render(template: Any, names: dict[str, Any]) -> str:
    """Render with the budget already installed by the caller."""
    pieces: list[str] = []
    total = 0
    for piece in template.root_render_func(template.new_context(names)):
        total += len(piece)
        if total > MAX_STRING_LENGTH:
            raise LimitExceeded(f"template output longer than {MAX_STRING_LENGTH} characters")
        pieces.append(piece)
    return "".join(pieces)
