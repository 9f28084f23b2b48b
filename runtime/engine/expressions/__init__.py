"""Property values: JSON literals, safe Python expressions and sandboxed Jinja2 templates.

``compile_value`` parses once (at definition load); ``Compiled.evaluate`` runs many times on
the engine hot path. Forms of a property value:

- any JSON value: a literal, returned as is (the same object every time: do not mutate it);
- ``{"expr": "<python expression>"}``: checked once against an allowlist, then evaluated by
  simpleeval; see ``pyexpr``;
- ``{"template": "<jinja2 template>"}``: rendered to a string, see ``template``;
- ``{"literal": <any JSON>}``: taken as is, even when it looks like one of the forms above.

Only a dict with exactly one of these keys is special; expression dicts nested inside lists
or dicts are literals, never evaluated.

Evaluation failures of any kind surface as ``ExpressionEvaluationError``; compile-time
problems as ``ExpressionSyntaxError``. Names not passed to ``evaluate`` are ``None``.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Literal

from .errors import ExpressionError, ExpressionEvaluationError, ExpressionSyntaxError
from .guards import SCALAR_TYPES, check_weight
from .limits import CURRENT_BUDGET, Budget
from .pyexpr import Program, describe_failure
from .template import compile_template, render

__all__ = [
    "ALLOWED_NAMES",
    "Compiled",
    "ExpressionError",
    "ExpressionEvaluationError",
    "ExpressionSyntaxError",
    "compile_value",
    "validate_source",
]

ALLOWED_NAMES = (
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
_MISSING_AS_NONE = dict.fromkeys(ALLOWED_NAMES)
_FORMS = ("expr", "template", "literal")

Kind = Literal["literal", "expr", "template"]


class Compiled:
    """A compiled property value."""

    __slots__ = ("is_dynamic", "kind", "source")

    kind: Kind
    source: str | None
    is_dynamic: bool

    def evaluate(self, names: dict[str, Any]) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<Compiled {self.kind} {self.source!r}>"


class LiteralValue(Compiled):
    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.kind = "literal"
        self.source = None
        self.is_dynamic = False
        self.value = value

    def evaluate(self, names: dict[str, Any]) -> Any:
        return self.value

    def __repr__(self) -> str:
        return f"<Compiled literal {self.value!r}>"


class Expression(Compiled):
    __slots__ = ("_check_result", "_needs_budget", "_run")

    def __init__(self, source: str) -> None:
        self.kind = "expr"
        self.source = source
        self.is_dynamic = True
        program = Program(source, ALLOWED_NAMES)
        self._run = program.run
        self._needs_budget = program.needs_budget
        self._check_result = program.builds_values

    def evaluate(self, names: dict[str, Any]) -> Any:
        budget = None
        token = None
        if self._needs_budget:
            # Also seen by size walks in ``guards`` through the context variable.
            budget = Budget()
            token = CURRENT_BUDGET.set(budget)
        try:
            result = self._run(names, budget)
            if self._check_result and type(result) not in SCALAR_TYPES:
                check_weight(result)
            return result
        except Exception as exc:
            raise ExpressionEvaluationError(describe_failure(exc), self.source) from None
        finally:
            if token is not None:
                CURRENT_BUDGET.reset(token)


class Template(Compiled):
    __slots__ = ("_template",)

    def __init__(self, source: str) -> None:
        self.kind = "template"
        self.source = source
        self.is_dynamic = True
        self._template = compile_template(source)

    def evaluate(self, names: dict[str, Any]) -> Any:
        token = CURRENT_BUDGET.set(Budget())
        try:
            return render(self._template, {**_MISSING_AS_NONE, **names})
        except Exception as exc:
            raise ExpressionEvaluationError(describe_failure(exc), self.source) from None
        finally:
            CURRENT_BUDGET.reset(token)


@lru_cache(maxsize=2048)
def _compile_source(kind: str, source: str) -> Compiled:
    # Compiled values are immutable, so definitions sharing a source share one object.
    return Expression(source) if kind == "expr" else Template(source)


def compile_value(value: Any) -> Compiled:
    """Compile a property value once; raises ``ExpressionSyntaxError`` when it is invalid."""
    if type(value) is dict and len(value) == 1:
        ((kind, body),) = value.items()
        if kind == "literal":
            return LiteralValue(body)
        if kind in ("expr", "template"):
            if not isinstance(body, str):
                raise ExpressionSyntaxError(f"'{kind}' must be a string, not {type(body).__name__}")
            return _compile_source(kind, body)
    return LiteralValue(value)


def validate_source(value: Any) -> list[str]:
    """The problems ``compile_value`` would raise for ``value``; empty when it is fine."""
    try:
        compile_value(value)
    except ExpressionSyntaxError as exc:
        return [str(exc)]
    return []
