"""The activity base class, property specs, and the explicit registry of activity types.

An activity class is stateless: one instance serves every node of its type in every plan.
Per-node data lives in the compiled `Node`; per-execution data lives in the JSON state
(the frame handed over through `ActivityContext`).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from runtime.engine.errors import EngineError

KINDS = ("inline", "task", "blocking")

# Property types beyond the value types: child activities and strings with a grammar.
CHILD_TYPES = ("activity", "activities")


@dataclass(frozen=True, slots=True)
class PropertySpec:
    name: str
    type: str
    required: bool = False
    description: str = ""
    default: Any = None
    # False for structural properties (ids, modes) that must be known when the plan compiles.
    dynamic: bool = True
    # An object whose values are compiled one by one, so `{"a": {"expr": "..."}}` works.
    per_key: bool = False
    choices: tuple = ()

    def descriptor(self) -> dict:
        out = {
            "name": self.name,
            "type": self.type,
            "required": self.required,
            "description": self.description,
            "default": self.default,
            "expressions": self.dynamic and self.type not in CHILD_TYPES,
        }
        if self.choices:
            out["choices"] = list(self.choices)
        return out


class Activity:
    """Base of every activity type. Subclasses set the class attributes and `execute`."""

    type_name: str = ""
    family: str = ""
    kind: str = "inline"
    can_trigger: bool = False
    # Loops are what `Break` leaves.
    is_loop: bool = False
    description: str = ""
    properties: tuple[PropertySpec, ...] = ()
    outcomes: tuple[str, ...] = ("done",)
    # Property or parameter names whose values are secrets: masked in execution records,
    # encrypted in stored state and task payloads (see runtime.engine.masking).
    secret_params: tuple[str, ...] = ()
    # Outcomes taken when an incident is skipped under the `continue` strategy.
    fallback_outcomes: tuple[str, ...] = ("done",)
    # Outcomes that mean "this did not work". Taking one that the parent does not route
    # anywhere faults the activity (an incident) unless the definition opts out with
    # `options.unrouted_failure: "continue"`: a failure must never pass for a success.
    failure_outcomes: tuple[str, ...] = ()

    # ---- definition time -------------------------------------------------------------

    def child_slots(self, raw: dict) -> list[tuple[str, str, Any]]:
        """(slot, path suffix, raw child) for each child activity of a node.

        The slot names where the compiled node keeps the child id; list-valued properties
        give `name[i]` slots so the order survives.
        """
        slots = []
        for spec in self.properties:
            value = raw.get(spec.name)
            if value is None:
                continue
            if spec.type == "activity":
                slots.append((spec.name, spec.name, value))
            elif spec.type == "activities" and isinstance(value, list):
                for i, child in enumerate(value):
                    slots.append((f"{spec.name}[{i}]", f"{spec.name}[{i}]", child))
        return slots

    def prepare(self, raw: dict, node_path: str, cx) -> Any:
        """Activity-specific checks (report through `cx.problem`) and compiled extras.

        Called after the generic property checks and after the children were compiled;
        the return value is stored as `node.extra`.
        """
        return None

    def node_outcomes(self, literals, extra) -> tuple[str, ...] | None:
        """Outcomes of one node (from its literal properties and `prepare` extras); None
        means 'not known before run time', so any outcome may be connected."""
        return self.outcomes

    def trigger_properties(self, node) -> dict:
        """What an adapter indexes when this node is a trigger."""
        return dict(node.literals)

    def routes_outcome(self, node, child_id: str, outcome: str) -> bool:
        """Whether this composite sends a child's `outcome` somewhere (a Flowchart
        connection). Other composites move on whatever the child's outcome was."""
        return False

    # ---- run time --------------------------------------------------------------------

    def execute(self, ctx) -> None:
        if self.kind == "task":
            # Tasks run outside the engine: ask the adapter, wait for complete/fail_task.
            ctx.request_task(self.task_input(ctx.props))
            return
        raise NotImplementedError(f"{self.type_name} does not implement execute")

    def task_input(self, props: dict) -> dict:
        """The JSON arguments a task activity's `run_task` receives."""
        return dict(props)

    def run_task(self, arguments: dict, context, *, http_allowed_hosts=()):
        """Runs a task activity's work; called by `execute_task`, never by the engine."""
        raise NotImplementedError(f"{self.type_name} is not a task activity")

    def resume(self, ctx, payload) -> None:
        """A bookmark of this activity got its stimulus; by default the payload is the output."""
        ctx.complete(payload)

    def task_completed(self, ctx, output) -> None:
        ctx.complete(output)

    def task_failed(self, ctx, error: str) -> None:
        """A task failed for good; by default an incident (then the incident strategy)."""
        from runtime.engine.context import ActivityError

        raise ActivityError(f"failed: {error}", code="task_failed")

    # ---- catalog ---------------------------------------------------------------------

    def descriptor(self) -> dict:
        return {
            "type": self.type_name,
            "family": self.family,
            "kind": self.kind,
            "trigger": self.can_trigger,
            "description": self.description,
            "properties": [spec.descriptor() for spec in self.properties],
            "outcomes": list(self.outcomes),
        }


class RegistryError(EngineError):
    """Registering an activity type that clashes with one already known."""


class ActivityRegistry:
    """Activity types by `type_name`. Explicit: nothing registers itself by import magic
    except `@activity`, which targets the default registry on purpose."""

    def __init__(self):
        self._types: dict[str, Activity] = {}
        self._builtin: set[str] = set()
        self._lock = threading.Lock()

    def register(self, activity: Activity, *, builtin: bool = False) -> Activity:
        name = activity.type_name
        if not name or not isinstance(name, str):
            raise RegistryError("an activity type needs a non-empty type_name")
        if activity.kind not in KINDS:
            raise RegistryError(f"{name}: kind must be one of {', '.join(KINDS)}")
        with self._lock:
            existing = self._types.get(name)
            if existing is not None:
                if name in self._builtin:
                    raise RegistryError(f"{name!r} is a built-in activity type")
                if not _same_activity(existing, activity):
                    raise RegistryError(f"activity type {name!r} is already registered")
                return existing
            self._types[name] = activity
            if builtin:
                self._builtin.add(name)
        return activity

    def get(self, type_name: str) -> Activity | None:
        return self._types.get(type_name)

    def __contains__(self, type_name: str) -> bool:
        return type_name in self._types

    def known_types(self) -> list[str]:
        return sorted(self._types)

    def is_builtin(self, type_name: str) -> bool:
        return type_name in self._builtin

    def descriptors(self) -> list[dict]:
        return [self._types[name].descriptor() for name in sorted(self._types)]


def _same_activity(a: Activity, b: Activity) -> bool:
    # Re-importing a module re-runs its decorators; the same function is not a clash.
    same = getattr(a, "same_as", None)
    return a is b or (same is not None and same(b))
