"""Definition validation and compilation: one walk reports every problem and builds the plan.

Validation and compilation share the walk on purpose, so that what `validate_definition`
accepts is exactly what `compile_definition` can run.
"""

from __future__ import annotations

import copy
import keyword
import re
from types import MappingProxyType
from typing import Any

from runtime.engine.activity import CHILD_TYPES, ActivityRegistry, PropertySpec
from runtime.engine.errors import DefinitionInvalid, Problem
from runtime.engine.expressions import ExpressionSyntaxError, compile_value
from runtime.engine.plan import Declaration, Node, Trigger, WorkflowPlan
from runtime.engine.propcheck import check_literal

SLUG = re.compile(r"^[a-z0-9][a-z0-9._-]{0,99}$")
ACTIVATIONS = ("always", "singleton", "correlated-singleton")
INCIDENT_STRATEGIES = ("fault", "continue")
UNROUTED_FAILURE = ("fault", "continue")
DEFAULT_OPTIONS = {"activation": "always", "incident_strategy": "fault", "queue": "default",
                   "unrouted_failure": "fault"}
_EXPRESSION_KEYS = ("expr", "template", "literal")
# `options.retention`: days a terminal instance is kept before it is archived and deleted.
RETENTION_KEYS = ("finished_days", "faulted_days")
MAX_RETENTION_DAYS = 36_500


def validate_definition(body: Any, registry: ActivityRegistry) -> list[Problem]:
    """Every problem in a definition body, in document order; empty when it is valid."""
    return _Compiler(body, registry).compile()[1]


def compile_definition(body: Any, registry: ActivityRegistry) -> WorkflowPlan:
    """The immutable plan of a definition body; raises `DefinitionInvalid` with every problem."""
    plan, problems = _Compiler(body, registry).compile()
    if problems:
        raise DefinitionInvalid(problems)
    return plan


def is_expression_form(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and next(iter(value)) in _EXPRESSION_KEYS


class _Keyed:
    """Evaluates an object property whose values are compiled one by one."""

    __slots__ = ("parts",)

    def __init__(self, parts):
        self.parts = parts

    def evaluate(self, names):
        return {key: compiled.evaluate(names) for key, compiled in self.parts}


class _Compiler:
    def __init__(self, body: Any, registry: ActivityRegistry):
        self.body = body
        self.registry = registry
        self.problems: list[Problem] = []
        self.nodes: dict[str, Node] = {}
        self.id_paths: dict[str, str] = {}
        self.parents: dict[str, str | None] = {}
        self.loop_depth = 0
        self.variables: dict[str, Declaration] = {}
        self.outputs: dict[str, Declaration] = {}
        self.current_children: dict[str, str] = {}

    # ---- helpers used by activities' `prepare` ---------------------------------------

    def problem(self, path: str, message: str) -> None:
        self.problems.append(Problem(path, message))

    @property
    def in_loop(self) -> bool:
        return self.loop_depth > 0

    def compile_expression(self, value: Any, path: str):
        """compile_value with syntax errors reported at `path`; None when it failed."""
        try:
            return compile_value(value)
        except ExpressionSyntaxError as exc:
            self.problem(path, f"invalid expression: {exc}")
            return None

    # ---- the walk --------------------------------------------------------------------

    def compile(self) -> tuple[WorkflowPlan | None, list[Problem]]:
        body = self.body
        if not isinstance(body, dict):
            self.problem("$", "a definition must be a JSON object")
            return None, self.problems
        name = body.get("name")
        if not isinstance(name, str) or not name.strip():
            self.problem("name", "required: a non-empty string")
        definition_id = body.get("definition_id")
        if definition_id is not None and (
            not isinstance(definition_id, str) or not SLUG.match(definition_id)
        ):
            self.problem("definition_id", "must be a slug: [a-z0-9][a-z0-9._-]{0,99}")
        description = body.get("description", "")
        if description is not None and not isinstance(description, str):
            self.problem("description", "must be a string")
        inputs = self._declarations("inputs")
        outputs = self._declarations("outputs")
        variables = self._declarations("variables")
        self.variables = {d.name: d for d in variables}
        self.outputs = {d.name: d for d in outputs}
        options = self._options(body.get("options"))

        root = body.get("root")
        root_id = None
        if root is None:
            self.problem("root", "required: the root activity")
        elif not isinstance(root, dict):
            self.problem("root", "must be an activity object")
        else:
            root_id = self._activity(root, "root", None)

        if self.problems or root_id is None:
            return None, self.problems
        plan = WorkflowPlan(
            definition_id=definition_id,
            name=name,
            description=description or "",
            inputs=inputs,
            outputs=outputs,
            variables=variables,
            options=MappingProxyType(options),
            root_id=root_id,
            nodes=MappingProxyType(dict(self.nodes)),
            triggers=tuple(
                Trigger(n.id, n.type, MappingProxyType(n.activity.trigger_properties(n)))
                for n in self.nodes.values()
                if n.is_trigger
            ),
            ancestors=MappingProxyType({nid: self._ancestors(nid) for nid in self.nodes}),
        )
        return plan, self.problems

    def _ancestors(self, node_id: str) -> tuple[str, ...]:
        chain = []
        parent = self.parents.get(node_id)
        while parent is not None:
            chain.append(parent)
            parent = self.parents.get(parent)
        return tuple(chain)

    def _declarations(self, key: str) -> tuple[Declaration, ...]:
        from runtime.engine.values import VALUE_TYPES, matches_type

        raw = self.body.get(key)
        if raw is None:
            return ()
        if not isinstance(raw, list):
            self.problem(key, "must be a list")
            return ()
        seen: set[str] = set()
        out = []
        for i, item in enumerate(raw):
            path = f"{key}[{i}]"
            if not isinstance(item, dict):
                self.problem(path, "must be an object with name and type")
                continue
            ok = True
            name = item.get("name")
            if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name):
                self.problem(f"{path}.name", "required: an identifier (letters, digits, _)")
                ok = False
            elif name in seen:
                self.problem(f"{path}.name", f"duplicate name {name!r}")
                ok = False
            else:
                seen.add(name)
            type_name = item.get("type", "any")
            if type_name not in VALUE_TYPES:
                self.problem(f"{path}.type", f"must be one of: {', '.join(VALUE_TYPES)}")
                ok = False
            required = item.get("required", False)
            if not isinstance(required, bool):
                self.problem(f"{path}.required", "must be true or false")
                ok = False
            has_default = "default" in item
            default = item.get("default")
            if (
                has_default
                and default is not None
                and type_name in VALUE_TYPES
                and not matches_type(default, type_name)
            ):
                self.problem(f"{path}.default", f"does not match type {type_name!r}")
                ok = False
            description = item.get("description", "")
            if not isinstance(description, str):
                self.problem(f"{path}.description", "must be a string")
                ok = False
            secret = item.get("secret", False)
            if not isinstance(secret, bool):
                self.problem(f"{path}.secret", "must be true or false")
                ok = False
            elif secret and key != "inputs":
                self.problem(f"{path}.secret", "only inputs can be marked secret")
                ok = False
            if ok:
                out.append(
                    Declaration(name, type_name, required, copy.deepcopy(default), has_default,
                                description, secret)
                )
        return tuple(out)

    def _options(self, raw: Any) -> dict:
        options = dict(DEFAULT_OPTIONS)
        if raw is None:
            return options
        if not isinstance(raw, dict):
            self.problem("options", "must be an object")
            return options
        activation = raw.get("activation", "always")
        if activation not in ACTIVATIONS:
            self.problem("options.activation", f"must be one of: {', '.join(ACTIVATIONS)}")
        strategy = raw.get("incident_strategy", "fault")
        if strategy not in INCIDENT_STRATEGIES:
            self.problem(
                "options.incident_strategy", f"must be one of: {', '.join(INCIDENT_STRATEGIES)}"
            )
        unrouted = raw.get("unrouted_failure", "fault")
        if unrouted not in UNROUTED_FAILURE:
            self.problem("options.unrouted_failure",
                         f"must be one of: {', '.join(UNROUTED_FAILURE)}")
        queue = raw.get("queue", "default")
        if not isinstance(queue, str) or not queue.strip():
            self.problem("options.queue", "must be a non-empty string")
        if "retention" in raw:
            self._retention(raw["retention"])
        options.update({k: v for k, v in raw.items()})
        return options

    def _retention(self, raw: Any) -> None:
        if not isinstance(raw, dict):
            self.problem("options.retention", "must be an object")
            return
        for key, value in raw.items():
            path = f"options.retention.{key}"
            if key not in RETENTION_KEYS:
                self.problem(path, f"unknown key; known keys: {', '.join(RETENTION_KEYS)}")
            elif (not isinstance(value, int) or isinstance(value, bool)
                  or not 0 < value <= MAX_RETENTION_DAYS):
                self.problem(path, f"must be a whole number of days from 1 to "
                                   f"{MAX_RETENTION_DAYS}")

    def _activity(self, raw: dict, path: str, parent_id: str | None) -> str | None:
        """Checks and compiles one activity and its subtree; returns its id when usable."""
        activity_id = raw.get("id")
        id_ok = isinstance(activity_id, str) and activity_id.strip() != ""
        if not id_ok:
            self.problem(f"{path}.id", "required: a non-empty string, unique in the definition")
        elif activity_id in self.id_paths:
            self.problem(
                f"{path}.id",
                f"duplicate id {activity_id!r} (also at {self.id_paths[activity_id]})",
            )
            id_ok = False
        else:
            self.id_paths[activity_id] = path

        type_name = raw.get("type")
        activity = self.registry.get(type_name) if isinstance(type_name, str) else None
        if activity is None:
            if not isinstance(type_name, str) or not type_name:
                message = "required: an activity type"
            else:
                message = f"unknown activity type {type_name!r}"
            self.problem(
                f"{path}.type", f"{message}; known types: {', '.join(self.registry.known_types())}"
            )
            return None

        display_name = raw.get("name")
        if display_name is not None and not isinstance(display_name, str):
            self.problem(f"{path}.name", "must be a string")

        is_trigger = raw.get("trigger", False)
        if not isinstance(is_trigger, bool):
            self.problem(f"{path}.trigger", "must be true or false")
            is_trigger = False
        elif is_trigger and not activity.can_trigger:
            capable = [t for t in self.registry.known_types() if self.registry.get(t).can_trigger]
            self.problem(
                f"{path}.trigger",
                f"{type_name} cannot be a trigger; trigger-capable types: {', '.join(capable)}",
            )

        retry, timeout = self._task_options(raw, path, activity)

        literals: dict[str, Any] = {}
        dynamic: list = []
        for spec in activity.properties:
            if spec.type in CHILD_TYPES:
                continue
            self._property(spec, raw, path, literals, dynamic)

        node_id = activity_id if id_ok else None
        self.parents[node_id or path] = parent_id
        children: dict[str, str] = {}
        child_lists: dict[str, list[str]] = {}
        if activity.is_loop:
            self.loop_depth += 1
        try:
            for spec in activity.properties:
                if spec.type not in CHILD_TYPES:
                    continue
                value = raw.get(spec.name)
                if value is None:
                    if spec.required:
                        self.problem(f"{path}.{spec.name}", "required")
                elif spec.type == "activity" and not isinstance(value, dict):
                    self.problem(f"{path}.{spec.name}", "must be an activity object")
                elif spec.type == "activities" and not isinstance(value, list):
                    self.problem(f"{path}.{spec.name}", "must be a list of activities")
            for slot, suffix, child_raw in activity.child_slots(raw):
                child_path = f"{path}.{suffix}"
                if not isinstance(child_raw, dict):
                    self.problem(child_path, "must be an activity object")
                    continue
                child_id = self._activity(child_raw, child_path, node_id)
                if child_id is None:
                    continue
                children[slot] = child_id
                base = slot.split("[", 1)[0]
                if "[" in slot:
                    child_lists.setdefault(base, []).append(child_id)
        finally:
            if activity.is_loop:
                self.loop_depth -= 1

        # Activities' `prepare` reads the ids of the children compiled just now.
        self.current_children = children
        extra = activity.prepare(raw, path, self)
        if node_id is None:
            return None
        mutable = tuple(k for k, v in literals.items() if isinstance(v, dict | list))
        frozen_literals = MappingProxyType(literals)
        node = Node(
            id=node_id,
            type=type_name,
            activity=activity,
            path=path,
            parent_id=parent_id,
            literals=frozen_literals,
            mutable_literals=mutable,
            dynamic=tuple(dynamic),
            children=MappingProxyType(children),
            child_lists=MappingProxyType({k: tuple(v) for k, v in child_lists.items()}),
            outcomes=activity.node_outcomes(frozen_literals, extra),
            is_trigger=is_trigger and activity.can_trigger,
            retry=MappingProxyType(retry) if retry is not None else None,
            timeout=timeout,
            extra=extra,
            display_name=display_name if isinstance(display_name, str) else None,
        )
        self.nodes[node_id] = node
        return node_id

    def _property(self, spec: PropertySpec, raw: dict, path: str, literals: dict, dynamic: list):
        prop_path = f"{path}.{spec.name}"
        value = raw.get(spec.name)
        if value is None:
            if spec.required:
                self.problem(prop_path, "required")
            elif spec.default is not None:
                literals[spec.name] = copy.deepcopy(spec.default)
            else:
                literals[spec.name] = None
            return
        if not spec.dynamic:
            if is_expression_form(value) and "literal" not in value:
                self.problem(prop_path, "must be a literal value (expressions are not allowed)")
                return
            if is_expression_form(value):
                value = value["literal"]
            message = check_literal(spec, value)
            if message:
                self.problem(prop_path, message)
            literals[spec.name] = value
            return
        if spec.per_key and isinstance(value, dict) and not is_expression_form(value):
            parts = []
            all_static = True
            for key, item in value.items():
                compiled = self.compile_expression(item, f"{prop_path}.{key}")
                if compiled is None:
                    return
                parts.append((key, compiled))
                all_static = all_static and not compiled.is_dynamic
            if all_static:
                literals[spec.name] = {key: c.evaluate({}) for key, c in parts}
            else:
                dynamic.append((spec.name, _Keyed(tuple(parts)).evaluate, None))
            return
        compiled = self.compile_expression(value, prop_path)
        if compiled is None:
            return
        if compiled.is_dynamic:
            dynamic.append((spec.name, compiled.evaluate, compiled.source))
            return
        constant = compiled.evaluate({})
        if constant is None and spec.required:
            self.problem(prop_path, "required")
            return
        if constant is not None:
            message = check_literal(spec, constant)
            if message:
                self.problem(prop_path, message)
                return
        literals[spec.name] = constant

    def _task_options(self, raw: dict, path: str, activity) -> tuple[dict | None, float | None]:
        retry_raw = raw.get("retry")
        timeout = raw.get("timeout")
        if activity.kind != "task":
            if retry_raw is not None:
                self.problem(f"{path}.retry", "only task activities take a retry policy")
            # SendHttpRequest-like activities declare `timeout` as their own property.
            declared = {spec.name for spec in activity.properties}
            if timeout is not None and "timeout" not in declared:
                self.problem(f"{path}.timeout", "only task activities take a timeout")
            return None, None
        from runtime.engine.task_requests import check_retry_policy, merged_retry_policy

        retry = None
        if retry_raw is not None:
            for key, message in check_retry_policy(retry_raw):
                self.problem(f"{path}.retry{'.' + key if key else ''}", message)
        retry = merged_retry_policy(
            getattr(activity, "default_retry", None),
            retry_raw if isinstance(retry_raw, dict) else None,
        )
        declared = {spec.name for spec in activity.properties}
        if "timeout" in declared:
            # The activity's own property (checked with the others) doubles as task timeout.
            timeout = timeout if isinstance(timeout, int | float) else None
        elif timeout is None:
            timeout = getattr(activity, "default_timeout", None)
        elif isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
            self.problem(f"{path}.timeout", "must be a positive number of seconds")
            timeout = None
        return retry, timeout
