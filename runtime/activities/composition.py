"""Control flow: Sequence, If, Switch, loops, Fork and Break. Flowchart and Join live in
flowchart.py.

Each composite keeps its progress in the callback `tag` (an index) where it can, and in
`ctx.data` otherwise; both are JSON so the state can stop and resume anywhere.
"""

from __future__ import annotations

from runtime.engine.activity import Activity, PropertySpec
from runtime.engine.context import DONE

LOOP_TYPES = "While, For, ForEach, ParallelForEach"


def _ids(ctx, name: str) -> tuple[str, ...]:
    return ctx.node.child_lists.get(name, ())


class Sequence(Activity):
    type_name = "Sequence"
    family = "composition"
    description = "Runs its activities one after another; its output is the last one's."
    properties = (PropertySpec("activities", "activities", description="activities in order"),)

    def execute(self, ctx) -> None:
        ids = _ids(ctx, "activities")
        if not ids:
            ctx.complete(None)
            return
        ctx.schedule(ids[0], "on_child", tag=0, result=ctx.result)

    def on_child(self, ctx, child_id, output, outcomes, tag) -> None:
        ids = _ids(ctx, "activities")
        following = tag + 1
        if following < len(ids):
            ctx.schedule(ids[following], "on_child", tag=following, result=output)
        else:
            ctx.complete(output)


class If(Activity):
    type_name = "If"
    family = "composition"
    description = (
        "Runs `then` or `else` by a condition; in a Flowchart, continues on outcome true/false. "
        "Output: the branch's output, or the condition when no branch ran."
    )
    properties = (
        PropertySpec("condition", "boolean", required=True, description="the test"),
        PropertySpec("then", "activity", description="runs when the condition holds"),
        PropertySpec("else", "activity", description="runs otherwise"),
    )
    outcomes = ("true", "false")
    fallback_outcomes = ("false",)

    def execute(self, ctx) -> None:
        holds = bool(ctx.props["condition"])
        outcome = "true" if holds else "false"
        branch = ctx.node.children.get("then" if holds else "else")
        if branch is None:
            ctx.complete(holds, (outcome,))
        else:
            ctx.schedule(branch, "on_branch", tag=outcome, result=ctx.result)

    def on_branch(self, ctx, child_id, output, outcomes, tag) -> None:
        ctx.complete(output, (tag,))


class Switch(Activity):
    """Cases are checked in order; `mode: all` runs every matching case's activity in turn."""

    type_name = "Switch"
    family = "composition"
    description = (
        "Picks cases by condition (mode first: the first match; all: every match, in order). "
        "A case runs an activity and/or continues on its named outcome in a Flowchart; no "
        "match runs `default` and takes outcome default."
    )
    properties = (
        PropertySpec("cases", "array", required=True, dynamic=False,
                     description="[{condition, activity or outcome}]"),
        PropertySpec("default", "activity", description="runs when no case matches"),
        PropertySpec("mode", "string", dynamic=False, default="first", choices=("first", "all")),
    )
    outcomes = ("default", "done")
    fallback_outcomes = ("default",)

    def child_slots(self, raw):
        slots = []
        cases = raw.get("cases")
        if isinstance(cases, list):
            for i, case in enumerate(cases):
                if isinstance(case, dict) and case.get("activity") is not None:
                    slots.append((f"cases[{i}]", f"cases[{i}].activity", case["activity"]))
        if raw.get("default") is not None:
            slots.append(("default", "default", raw["default"]))
        return slots

    def prepare(self, raw, node_path, cx):
        cases = raw.get("cases")
        compiled = []
        if not isinstance(cases, list):
            return ()
        seen = set()
        for i, case in enumerate(cases):
            path = f"{node_path}.cases[{i}]"
            if not isinstance(case, dict):
                cx.problem(path, "must be an object with condition and activity or outcome")
                continue
            if "condition" not in case:
                cx.problem(f"{path}.condition", "required")
                continue
            condition = cx.compile_expression(case["condition"], f"{path}.condition")
            outcome = case.get("outcome")
            if outcome is not None and (not isinstance(outcome, str) or not outcome):
                cx.problem(f"{path}.outcome", "must be a non-empty string")
                outcome = None
            elif outcome in ("default", "done"):
                cx.problem(f"{path}.outcome", f"{outcome!r} is reserved")
            elif outcome in seen:
                cx.problem(f"{path}.outcome", f"duplicate outcome {outcome!r}")
            if outcome:
                seen.add(outcome)
            if case.get("activity") is None and outcome is None:
                cx.problem(path, "needs an activity or an outcome")
            if condition is not None:
                compiled.append((condition, outcome, f"cases[{i}]"))
        return tuple(compiled)

    def node_outcomes(self, literals, extra):
        named = tuple(outcome for _, outcome, _slot in (extra or ()) if outcome)
        return (*named, "default", "done")

    def execute(self, ctx) -> None:
        names = ctx.call.names_for(ctx.frame)
        matched = []
        for index, (condition, _outcome, _slot) in enumerate(ctx.node.extra):
            if condition.evaluate(names):
                matched.append(index)
                if ctx.props["mode"] == "first":
                    break
        cases = ctx.node.extra
        if matched:
            outcomes = [cases[i][1] or "done" for i in matched]
            slots = [cases[i][2] for i in matched if cases[i][2] in ctx.node.children]
        else:
            outcomes = ["default"]
            slots = ["default"] if "default" in ctx.node.children else []
        ctx.data.update(outcomes=list(dict.fromkeys(outcomes)), slots=slots)
        self._next(ctx, 0, ctx.result)

    def _next(self, ctx, position: int, result) -> None:
        slots = ctx.data["slots"]
        if position < len(slots):
            ctx.schedule(ctx.node.children[slots[position]], "on_case", tag=position,
                         result=result)
        else:
            ctx.complete(result if slots else None, tuple(ctx.data["outcomes"]))

    def on_case(self, ctx, child_id, output, outcomes, tag) -> None:
        self._next(ctx, tag + 1, output)


class While(Activity):
    type_name = "While"
    family = "composition"
    is_loop = True
    description = "Runs `body` while the condition holds (re-checked before each iteration)."
    properties = (
        PropertySpec("condition", "boolean", required=True),
        PropertySpec("body", "activity", required=True),
    )

    def execute(self, ctx) -> None:
        if ctx.props["condition"]:
            self._iterate(ctx, 0, ctx.result)
        else:
            ctx.complete(None)

    def _iterate(self, ctx, index: int, result) -> None:
        scope = ctx.frame["scope"]
        ctx.schedule(ctx.node.children["body"], "on_body", tag=index, result=result,
                     scope={**scope, "index": index} if scope else {"index": index})

    def on_body(self, ctx, child_id, output, outcomes, tag) -> None:
        if ctx.evaluate("condition"):
            self._iterate(ctx, tag + 1, output)
        else:
            ctx.complete(output)


class For(Activity):
    type_name = "For"
    family = "composition"
    is_loop = True
    description = "Counts from `start` to `end` by `step` (end included unless inclusive=false)."
    properties = (
        PropertySpec("start", "number", default=0),
        PropertySpec("end", "number", required=True),
        PropertySpec("step", "number", default=1),
        PropertySpec("inclusive", "boolean", default=True, description="whether end is run"),
        PropertySpec("body", "activity", required=True),
    )

    def execute(self, ctx) -> None:
        props = ctx.props
        for name in ("start", "end", "step"):
            value = props[name]
            if isinstance(value, bool) or not isinstance(value, int | float):
                ctx.fail(f"{name} must be a number, got {value!r}")
        if props["step"] == 0:
            ctx.fail("step cannot be 0")
        ctx.data.update(end=props["end"], step=props["step"], inclusive=bool(props["inclusive"]))
        self._step(ctx, props["start"], ctx.result)

    def _step(self, ctx, value, result) -> None:
        data = ctx.data
        end, step = data["end"], data["step"]
        if step > 0:
            go = value <= end if data["inclusive"] else value < end
        else:
            go = value >= end if data["inclusive"] else value > end
        if not go:
            ctx.complete(result)
            return
        scope = ctx.frame["scope"]
        ctx.schedule(ctx.node.children["body"], "on_body", tag=value, result=result,
                     scope={**(scope or {}), "index": value})

    def on_body(self, ctx, child_id, output, outcomes, tag) -> None:
        self._step(ctx, tag + ctx.data["step"], output)


def _items(ctx) -> list:
    items = ctx.props["items"]
    if isinstance(items, tuple):
        items = list(items)
    if not isinstance(items, list):
        ctx.fail(f"items must be a list, got {type(items).__name__}")
    return items


class ForEach(Activity):
    type_name = "ForEach"
    family = "composition"
    is_loop = True
    description = "Runs `body` once per item, in order, with `item` and `index` in scope."
    properties = (
        PropertySpec("items", "array", required=True),
        PropertySpec("body", "activity", required=True),
    )

    def execute(self, ctx) -> None:
        ctx.data["items"] = _items(ctx)
        self._step(ctx, 0, ctx.result)

    def _step(self, ctx, index: int, result) -> None:
        items = ctx.data["items"]
        if index >= len(items):
            ctx.complete(result)
            return
        scope = ctx.frame["scope"]
        ctx.schedule(ctx.node.children["body"], "on_body", tag=index, result=result,
                     scope={**(scope or {}), "item": items[index], "index": index})

    def on_body(self, ctx, child_id, output, outcomes, tag) -> None:
        self._step(ctx, tag + 1, output)


class ParallelForEach(Activity):
    type_name = "ParallelForEach"
    family = "composition"
    is_loop = True
    description = (
        "Runs `body` for every item at once (at most `max_parallel` at a time, 0 = no limit); "
        "output: the bodies' outputs in item order."
    )
    properties = (
        PropertySpec("items", "array", required=True),
        PropertySpec("body", "activity", required=True),
        PropertySpec("max_parallel", "integer", default=0),
    )

    def execute(self, ctx) -> None:
        items = _items(ctx)
        limit = ctx.props["max_parallel"] or 0
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
            ctx.fail(f"max_parallel must be an integer >= 0, got {limit!r}")
        data = ctx.data
        data.update(items=items, next=0, active=0, results=[None] * len(items))
        if not items:
            ctx.complete([])
            return
        for _ in range(min(limit or len(items), len(items))):
            self._start_next(ctx)

    def _start_next(self, ctx) -> None:
        data = ctx.data
        index = data["next"]
        data["next"] = index + 1
        data["active"] += 1
        scope = ctx.frame["scope"]
        ctx.schedule(ctx.node.children["body"], "on_body", tag=index, result=ctx.result,
                     scope={**(scope or {}), "item": data["items"][index], "index": index})

    def on_body(self, ctx, child_id, output, outcomes, tag) -> None:
        data = ctx.data
        data["results"][tag] = output
        data["active"] -= 1
        if data["next"] < len(data["items"]):
            self._start_next(ctx)
        elif data["active"] == 0:
            ctx.complete(data["results"])


class Fork(Activity):
    type_name = "Fork"
    family = "composition"
    description = (
        "Runs its branches in parallel. join wait_all: completes when all did (output: their "
        "outputs in order); wait_any: the first to complete wins and the others are cancelled."
    )
    properties = (
        PropertySpec("branches", "activities", required=True),
        PropertySpec("join", "string", dynamic=False, default="wait_all",
                     choices=("wait_all", "wait_any")),
    )

    def execute(self, ctx) -> None:
        branches = _ids(ctx, "branches")
        if not branches:
            ctx.complete([])
            return
        ctx.data.update(pending=len(branches), outputs=[None] * len(branches))
        for index, branch in enumerate(branches):
            ctx.schedule(branch, "on_branch", tag=index, result=ctx.result)

    def on_branch(self, ctx, child_id, output, outcomes, tag) -> None:
        if ctx.props["join"] == "wait_any":
            ctx.cancel(ctx.live_children())
            ctx.complete(output)
            return
        data = ctx.data
        data["outputs"][tag] = output
        data["pending"] -= 1
        if data["pending"] == 0:
            ctx.complete(data["outputs"])


class Break(Activity):
    type_name = "Break"
    family = "composition"
    description = f"Leaves the innermost enclosing loop ({LOOP_TYPES}), cancelling its body."

    def prepare(self, raw, node_path, cx):
        if not cx.in_loop:
            cx.problem(node_path, f"Break must be inside a loop ({LOOP_TYPES})")

    def execute(self, ctx) -> None:
        ctx.break_loop()


__all__ = ["DONE", "Break", "For", "ForEach", "Fork", "If", "ParallelForEach", "Sequence",
           "Switch", "While"]
