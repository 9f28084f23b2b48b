"""The built-in activity types, one module per family."""

from __future__ import annotations

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


__all__ = ["BUILTIN_TYPES", "register_builtins"]
