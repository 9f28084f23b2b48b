"""User activities: plain Python functions registered with `@activity`."""

from __future__ import annotations

import collections.abc
import inspect
import re
import types
import typing
from typing import Any

from runtime.engine.activity import Activity, ActivityRegistry, PropertySpec, RegistryError
from runtime.engine.propcheck import check_literal
from runtime.engine.task_requests import check_retry_policy, merged_retry_policy

TYPE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,199}$")

_SIMPLE_TYPES = {
    str: "string",
    int: "integer",
    float: "number",
    bool: "boolean",
    dict: "object",
    list: "array",
    tuple: "array",
}
_ORIGIN_TYPES = {
    dict: "object",
    list: "array",
    tuple: "array",
    collections.abc.Mapping: "object",
    collections.abc.Sequence: "array",
}


def _value_type(annotation: Any) -> tuple[str, bool]:
    """(value type, accepts None) of a parameter annotation."""
    if annotation is inspect.Parameter.empty or annotation is Any:
        return "any", False
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        optional = len(args) < len(typing.get_args(annotation))
        if len(args) == 1:
            return _value_type(args[0])[0], optional
        return "any", optional
    if annotation in _SIMPLE_TYPES:
        return _SIMPLE_TYPES[annotation], False
    if origin in _ORIGIN_TYPES:
        return _ORIGIN_TYPES[origin], False
    return "any", False


class FunctionActivity(Activity):
    """A task activity backed by a function; its keyword parameters are its properties.

    In a definition the arguments sit in the node's `input` map (values may be expressions).
    """

    family = "user"
    kind = "task"

    def __init__(self, type_name: str, fn, *, retry: dict | None = None,
                 timeout: float | None = None, description: str | None = None,
                 secret: tuple[str, ...] = ()):
        self.type_name = type_name
        self.fn = fn
        self.default_retry = merged_retry_policy(retry)
        self.default_timeout = timeout
        self.description = description or inspect.getdoc(fn) or ""
        self.wants_context = False
        self.accepts_extra = False
        self.parameters = self._parameters(fn)
        known = {spec.name for spec in self.parameters}
        unknown = [name for name in secret if name not in known and not self.accepts_extra]
        if unknown:
            raise RegistryError(f"{type_name}: secret names no parameter: {', '.join(unknown)}")
        self.secret_params = tuple(secret)
        self.properties = (
            PropertySpec("input", "object", per_key=True,
                         description="the function's keyword arguments by name"),
        )

    def _parameters(self, fn) -> tuple[PropertySpec, ...]:
        try:
            hints = typing.get_type_hints(fn)
        except Exception:  # unresolvable annotations just mean 'any'
            hints = {}
        specs = []
        for param in inspect.signature(fn).parameters.values():
            if param.kind is inspect.Parameter.VAR_KEYWORD:
                self.accepts_extra = True
                continue
            if param.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.VAR_POSITIONAL):
                raise RegistryError(
                    f"{self.type_name}: activity functions take keyword arguments only "
                    f"({param.name!r} is positional)"
                )
            if param.name == "context":
                self.wants_context = True
                continue
            type_name, optional = _value_type(hints.get(param.name, param.annotation))
            has_default = param.default is not inspect.Parameter.empty
            specs.append(PropertySpec(
                name=param.name,
                type=type_name,
                required=not has_default and not optional,
                default=param.default if has_default else None,
            ))
        return tuple(specs)

    def same_as(self, other: Activity) -> bool:
        fn = getattr(other, "fn", None)
        return fn is not None and (
            fn is self.fn
            or (fn.__module__, fn.__qualname__) == (self.fn.__module__, self.fn.__qualname__)
        )

    def prepare(self, raw: dict, node_path: str, cx) -> None:
        given = raw.get("input")
        if given is None:
            given = {}
        if not isinstance(given, dict):
            return  # the generic property check already reported it
        from runtime.engine.compiler import is_expression_form

        if is_expression_form(given):
            return  # one expression computing the whole map: checked at run time
        names = {spec.name for spec in self.parameters}
        for spec in self.parameters:
            path = f"{node_path}.input.{spec.name}"
            if spec.name not in given:
                if spec.required:
                    cx.problem(path, "required")
                continue
            value = given[spec.name]
            if not is_expression_form(value) and value is not None:
                message = check_literal(spec, value)
                if message:
                    cx.problem(path, message)
        if not self.accepts_extra:
            for key in given:
                if key not in names:
                    cx.problem(f"{node_path}.input.{key}",
                               f"{self.type_name} has no parameter {key!r}")

    def task_input(self, props: dict) -> dict:
        return dict(props.get("input") or {})

    def run_task(self, arguments: dict, context, *, http_allowed_hosts=()) -> Any:
        if self.wants_context:
            arguments["context"] = context
        return self.fn(**arguments)

    def descriptor(self) -> dict:
        out = super().descriptor()
        out["properties"] = [spec.descriptor() for spec in self.parameters]
        out["input_map"] = "input"
        out["retry"] = dict(self.default_retry)
        out["timeout"] = self.default_timeout
        return out


def activity(type_name: str, *, retry: dict | None = None, timeout: float | None = None,
             description: str | None = None, secret: list[str] | tuple[str, ...] = (),
             registry: ActivityRegistry):
    """Registers a function as the task activity `type_name` in `registry`. User code uses
    `runtime.activity`, which registers in the process-wide registry of `runtime.activities`.

    `secret` names parameters whose values are secrets: the function receives them as they
    are, but execution records show `***` and stored task payloads hold them encrypted.

    The function is returned unchanged, so it stays callable and testable directly.
    """
    if not isinstance(type_name, str) or not TYPE_NAME.match(type_name):
        raise RegistryError(f"invalid activity type name {type_name!r}")
    if retry is not None:
        problems = check_retry_policy(retry)
        if problems:
            key, message = problems[0]
            raise RegistryError(f"{type_name}: retry.{key}: {message}")
    if timeout is not None and (isinstance(timeout, bool) or timeout <= 0):
        raise RegistryError(f"{type_name}: timeout must be a positive number of seconds")
    if isinstance(secret, str) or not all(isinstance(name, str) for name in secret):
        raise RegistryError(f"{type_name}: secret must be a list of parameter names")

    def decorate(fn):
        registry.register(FunctionActivity(type_name, fn, retry=retry, timeout=timeout,
                                         description=description, secret=tuple(secret)))
        fn.activity_type = type_name
        return fn

    return decorate
