"""The built-in activity types, one module per family, and the process-wide registry: the
engine never imports its plug-ins; they are assembled here."""

from __future__ import annotations

import threading

from runtime.activities.children import ExecuteWorkflow
from runtime.activities.composition import (
    Break,
    For,
    ForEach,
    Fork,
    If,
    ParallelForEach,
    Sequence,
    Switch,
    While,
)
from runtime.activities.events import Event, PublishEvent
from runtime.activities.flowchart import Flowchart, Join
from runtime.activities.http import HttpEndpoint, SendHttpRequest, WriteHttpResponse
from runtime.activities.primitives import (
    Correlate,
    Fault,
    Finish,
    SetOutput,
    SetVariable,
    WriteLine,
)
from runtime.activities.timing import Cron, Delay, StartAt, Timer
from runtime.engine.activity import ActivityRegistry
from runtime.engine.user import activity as _register_function

BUILTIN_TYPES = (
    Sequence, Flowchart, If, Switch, While, For, ForEach, ParallelForEach, Fork, Join, Break,
    SetVariable, SetOutput, WriteLine, Correlate, Finish, Fault,
    Delay, Timer, Cron, StartAt,
    Event, PublishEvent,
    HttpEndpoint, WriteHttpResponse, SendHttpRequest,
    ExecuteWorkflow,
)


def register_builtins(registry) -> None:
    for activity_type in BUILTIN_TYPES:
        registry.register(activity_type(), builtin=True)


_default: ActivityRegistry | None = None
_default_lock = threading.Lock()


def default_registry() -> ActivityRegistry:
    """The process-wide registry: every built-in type plus every `@activity` function."""
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                registry = ActivityRegistry()
                register_builtins(registry)
                _default = registry
    return _default


def activity(type_name: str, *, retry: dict | None = None, timeout: float | None = None,
             description: str | None = None, secret: list[str] | tuple[str, ...] = (),
             registry: ActivityRegistry | None = None):
    """Registers a function as the task activity `type_name` (in the default registry).

    `secret` names parameters whose values are secrets: the function receives them as they
    are, but execution records show `***` and stored task payloads hold them encrypted.

    The function is returned unchanged, so it stays callable and testable directly.
    """
    return _register_function(type_name, retry=retry, timeout=timeout, description=description,
                              secret=secret,
                              registry=registry if registry is not None else default_registry())


__all__ = ["BUILTIN_TYPES", "activity", "default_registry", "register_builtins"]
