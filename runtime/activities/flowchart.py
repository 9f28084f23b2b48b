"""Flowchart (activities joined by outcome-labelled connections) and Join.

Join semantics, also inside loops:
- `wait_all` fires once every inbound connection has delivered at least once since the Join
  last fired; then it starts counting afresh. Repeated deliveries on one connection before
  that count once.
- `wait_any` fires on every delivery and cancels the activities still running in the same
  Flowchart from which the Join can be reached (the slower branches).
A target that is not a Join runs once per delivery.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from types import MappingProxyType

from runtime.engine.activity import Activity, PropertySpec

JOIN_MODES = ("wait_all", "wait_any")


@dataclass(frozen=True, slots=True)
class FlowchartPlan:
    members: frozenset
    starts: tuple[str, ...]
    # source -> outcome -> targets
    adjacency: MappingProxyType
    # join id -> mode; inbound connection labels ("source:outcome"); who can reach it
    join_modes: MappingProxyType
    join_inbound: MappingProxyType
    join_upstream: MappingProxyType


class Flowchart(Activity):
    type_name = "Flowchart"
    family = "composition"
    description = (
        "Activities joined by connections (source, target, outcome default 'done'); starts at "
        "`start` or at every activity without an inbound connection; loops are allowed. "
        "Completes when nothing inside is running any more."
    )
    properties = (
        PropertySpec("activities", "activities", description="the nodes"),
        PropertySpec("connections", "array", dynamic=False, default=[],
                     description="[{source, target, outcome}]"),
        PropertySpec("start", "string", dynamic=False, description="id of the first activity"),
    )

    def prepare(self, raw, node_path, cx):
        children = raw.get("activities") if isinstance(raw.get("activities"), list) else []
        member_ids = [c.get("id") for c in children if isinstance(c, dict)]
        members = frozenset(i for i in member_ids if isinstance(i, str))
        adjacency: dict[str, dict[str, list[str]]] = {}
        inbound: dict[str, set[str]] = {}
        connections = raw.get("connections") or []
        if not isinstance(connections, list):
            connections = []
        for i, conn in enumerate(connections):
            path = f"{node_path}.connections[{i}]"
            if not isinstance(conn, dict):
                cx.problem(path, "must be an object with source and target")
                continue
            ok = True
            for end in ("source", "target"):
                ref = conn.get(end)
                if not isinstance(ref, str):
                    cx.problem(f"{path}.{end}", "required: an activity id")
                    ok = False
                elif ref not in members:
                    cx.problem(f"{path}.{end}",
                               f"unknown activity {ref!r} (not in this flowchart)")
                    ok = False
            outcome = conn.get("outcome", "done")
            if not isinstance(outcome, str) or not outcome:
                cx.problem(f"{path}.outcome", "must be a non-empty string")
                ok = False
            if not ok:
                continue
            source, target = conn["source"], conn["target"]
            source_node = cx.nodes.get(source)
            known = source_node.outcomes if source_node is not None else None
            if known is not None and outcome not in known:
                cx.problem(f"{path}.outcome", f"{source_node.type} {source!r} has no outcome "
                           f"{outcome!r}; its outcomes: {', '.join(known)}")
                continue
            targets = adjacency.setdefault(source, {}).setdefault(outcome, [])
            if target not in targets:
                targets.append(target)
            inbound.setdefault(target, set()).add(f"{source}:{outcome}")

        start = raw.get("start")
        if start is not None and isinstance(start, str) and start not in members:
            cx.problem(f"{node_path}.start", f"unknown activity {start!r} (not in this flowchart)")
        if isinstance(start, str) and start in members:
            starts = (start,)
        else:
            starts = tuple(i for i in member_ids if isinstance(i, str) and i not in inbound)
            if members and not starts and start is None:
                cx.problem(f"{node_path}.start", "every activity has an inbound connection: "
                           "set start to the first one")

        joins = {i: cx.nodes[i] for i in members if i in cx.nodes and cx.nodes[i].type == "Join"}
        reverse: dict[str, set[str]] = {}
        for source, by_outcome in adjacency.items():
            for targets in by_outcome.values():
                for target in targets:
                    reverse.setdefault(target, set()).add(source)
        upstream = {}
        for join_id in joins:
            seen: set[str] = set()
            todo = deque(reverse.get(join_id, ()))
            while todo:
                current = todo.popleft()
                if current in seen:
                    continue
                seen.add(current)
                todo.extend(reverse.get(current, ()))
            upstream[join_id] = frozenset(seen - {join_id})
        return FlowchartPlan(
            members=members,
            starts=starts,
            adjacency=MappingProxyType(
                {s: MappingProxyType({o: tuple(t) for o, t in by.items()})
                 for s, by in adjacency.items()}
            ),
            join_modes=MappingProxyType({i: n.literals.get("mode") or "wait_all"
                                         for i, n in joins.items()}),
            join_inbound=MappingProxyType({i: frozenset(inbound.get(i, ())) for i in joins}),
            join_upstream=MappingProxyType(upstream),
        )

    def execute(self, ctx) -> None:
        plan: FlowchartPlan = ctx.node.extra
        starts = plan.starts
        trigger = ctx.state.get("trigger")
        if trigger is not None and trigger["activity_id"] in plan.members:
            # Started by one of several triggers: run from that one only.
            starts = (trigger["activity_id"],)
        if not starts:
            ctx.complete(None)
            return
        ctx.data.update(active=len(starts), joins={})
        for start in starts:
            ctx.schedule(start, "on_child", result=ctx.result)

    def routes_outcome(self, node, child_id: str, outcome: str) -> bool:
        plan: FlowchartPlan = node.extra
        return bool(plan.adjacency.get(child_id, {}).get(outcome))

    def on_child(self, ctx, child_id, output, outcomes, tag) -> None:
        plan: FlowchartPlan = ctx.node.extra
        data = ctx.data
        data["active"] -= 1
        by_outcome = plan.adjacency.get(child_id)
        if by_outcome:
            for outcome in outcomes:
                for target in by_outcome.get(outcome, ()):
                    if target in plan.join_modes:
                        self._arrive(ctx, plan, target, f"{child_id}:{outcome}", output)
                    else:
                        data["active"] += 1
                        ctx.schedule(target, "on_child", result=output)
        if data["active"] <= 0:
            ctx.complete(output)

    def _arrive(self, ctx, plan: FlowchartPlan, join_id: str, label: str, output) -> None:
        data = ctx.data
        if plan.join_modes[join_id] == "wait_any":
            upstream = plan.join_upstream[join_id]
            frames = ctx.call.frames
            slower = [fid for fid in ctx.live_children() if frames[fid]["node"] in upstream]
            if slower:
                ctx.cancel(slower)
                data["active"] -= len(slower)
        else:
            delivered = data["joins"].setdefault(join_id, [])
            if label not in delivered:
                delivered.append(label)
            if not plan.join_inbound[join_id].issubset(delivered):
                return
            data["joins"][join_id] = []
        data["active"] += 1
        ctx.schedule(join_id, "on_child", result=output)


class Join(Activity):
    type_name = "Join"
    family = "composition"
    description = (
        "Merges Flowchart branches: wait_all fires once every inbound connection delivered "
        "since it last fired; wait_any fires at once and cancels the slower branches. "
        "Output: the output that arrived last."
    )
    properties = (
        PropertySpec("mode", "string", dynamic=False, default="wait_all", choices=JOIN_MODES),
    )

    def execute(self, ctx) -> None:
        ctx.complete(ctx.result)
