"""The compiled, immutable form of a definition version: what the executor runs."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from runtime.engine.activity import Activity

EMPTY: Mapping = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Declaration:
    """One entry of `inputs`, `outputs` or `variables`."""

    name: str
    type: str = "any"
    required: bool = False
    default: Any = None
    has_default: bool = False
    description: str = ""
    secret: bool = False

    def as_dict(self) -> dict:
        out = {"name": self.name, "type": self.type, "required": self.required}
        if self.has_default:
            out["default"] = self.default
        if self.secret:
            out["secret"] = True
        if self.description:
            out["description"] = self.description
        return out


@dataclass(frozen=True, slots=True)
class Trigger:
    """A trigger-capable activity marked `"trigger": true`; adapters index these on publish."""

    activity_id: str
    type: str
    properties: Mapping

    def as_dict(self) -> dict:
        return {"activity_id": self.activity_id, "type": self.type,
                "properties": dict(self.properties)}


@dataclass(frozen=True, slots=True)
class Node:
    """One activity of the definition, with its properties compiled."""

    id: str
    type: str
    activity: Activity
    path: str
    parent_id: str | None
    # Property values known at compile time (already evaluated once).
    literals: Mapping
    # Names among `literals` holding dicts/lists: copied per execution so that no instance
    # can change a value shared by every instance of the plan.
    mutable_literals: tuple[str, ...]
    # (property name, evaluate(names) callable, expression source) for dynamic properties.
    dynamic: tuple[tuple[str, Callable[[dict], Any], str | None], ...]
    # slot -> child node id (see Activity.child_slots); `name[i]` slots keep list order.
    children: Mapping
    child_lists: Mapping  # property name -> tuple of child ids, for list-valued slots
    outcomes: tuple[str, ...] | None
    is_trigger: bool = False
    retry: Mapping | None = None
    timeout: float | None = None
    extra: Any = None
    display_name: str | None = None


@dataclass(frozen=True)
class WorkflowPlan:
    definition_id: str | None
    name: str
    description: str
    inputs: tuple[Declaration, ...]
    outputs: tuple[Declaration, ...]
    variables: tuple[Declaration, ...]
    options: Mapping
    root_id: str
    nodes: Mapping  # activity id -> Node
    triggers: tuple[Trigger, ...]
    # ancestors of each node, innermost first; Break and Finish walk these.
    ancestors: Mapping = field(default_factory=lambda: EMPTY)

    def node(self, activity_id: str) -> Node:
        return self.nodes[activity_id]

    @property
    def incident_strategy(self) -> str:
        return self.options["incident_strategy"]

    @property
    def queue(self) -> str:
        return self.options["queue"]
