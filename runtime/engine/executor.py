"""The scheduler: runs work items from the JSON state until nothing is runnable.

A work item ("frame") is one activity execution: `{"id", "node", "parent", "callback",
"status", "result", "scope", "tag"}` plus optional `data` (composite progress), `started_at`
and `input` (kept only while it waits, for the execution record). Composites schedule
children with a callback *name*; when a child completes, the parent's method of that name
runs at once. The queue is FIFO, so parallel branches interleave fairly.
"""

from __future__ import annotations

from dataclasses import replace

from runtime.engine.context import DONE, ActivityContext, ActivityError
from runtime.engine.expressions import ExpressionEvaluationError
from runtime.engine.masking import mask_secrets
from runtime.engine.results import TERMINAL, EngineResult
from runtime.engine.secrets import SecretNames, mask_in_place, seal
from runtime.engine.task_requests import DEFAULT_RETRY_POLICY, TaskRequest
from runtime.engine.values import json_safe

_CLONE_TYPES = (dict, list)
_PLAIN = (str, int, bool, type(None))  # floats go through json_safe (NaN, inf)


def clone(value):
    """Copy of a JSON value (faster than deepcopy for the plain dict/list trees we hold)."""
    if isinstance(value, dict):
        return {k: clone(v) if isinstance(v, _CLONE_TYPES) else v for k, v in value.items()}
    if isinstance(value, list):
        return [clone(v) if isinstance(v, _CLONE_TYPES) else v for v in value]
    return value


def _state_value(name: str, value, source):
    """An evaluated property as the state may hold it: plain JSON, never an alias of the
    state itself (an expression like `variables` returns the live dict)."""
    if type(value) in _PLAIN:
        return value
    try:
        return json_safe(value)
    except ValueError as exc:
        raise ActivityError(f"{name}: {exc}", code="invalid_value", expression=source) from exc


def recorded_input(node, props):
    """What an execution record keeps of an activity's input: its secret parameters masked
    (the activity itself receives them in clear)."""
    secret = node.activity.secret_params
    return mask_secrets(props, secret) if secret and props is not None else props


class EngineCall:
    """One engine call over one state. Collects everything the adapter must apply."""

    def __init__(self, plan, state: dict, now):
        if now.tzinfo is None:
            raise ValueError("now must be a timezone-aware datetime")
        self.plan = plan
        self.nodes = plan.nodes
        self.state = state
        self.now = now
        self.now_iso = now.isoformat()
        self.frames: dict = state["frames"]
        self.queue: list = state["queue"]
        self.seq: int = state["journal_seq"]
        self.journal: list = []
        self.executions: list = []
        self.records: dict = {}
        self.tasks: list = []
        self.bookmarks: list = []
        self.removed_bookmarks: list = []
        self.cancelled_tasks: list = []
        self.effects: list = []
        self.incidents: list = []
        self.scheduled: list = []
        self.steps = 0
        self.budget_hit = False
        self.stopped = state["status"] in TERMINAL
        self.continue_on_incident = plan.options["incident_strategy"] == "continue"
        self.unrouted_failure_faults = plan.options.get("unrouted_failure", "fault") == "fault"
        self.base_names = {
            "input": state["input"],
            "variables": state["variables"],
            "outputs": state["activity_outputs"],
            "correlation_id": state["correlation_id"],
            "instance_id": state["instance_id"],
            "definition_id": state["definition_id"],
            "now": now,
            "payload": state.get("payload"),
            "result": None,
            "item": None,
            "index": None,
            # Resolved on first read; what was read is masked in `result`.
            "secrets": SecretNames(state["instance_id"]),
        }

    # ---- journal and records -------------------------------------------------------

    def entry(self, event: str, node=None, message=None, data=None) -> None:
        self.seq += 1
        self.journal.append({
            "sequence": self.seq,
            "event": event,
            "activity_id": node.id if node is not None else None,
            "activity_type": node.type if node is not None else None,
            "message": message,
            "data": data,
            "timestamp": self.now_iso,
        })

    def record_of(self, frame: dict, node) -> dict:
        """The execution record of a frame, re-created when it started in an earlier call."""
        record = self.records.get(frame["id"])
        if record is None:
            record = {
                "key": frame["id"],
                "activity_id": node.id,
                "type": node.type,
                "status": frame.get("status", "running"),
                "attempt": frame.get("attempt", 1),
                "input": recorded_input(node, frame.get("input")),
                "output": None,
                "outcome": None,
                "error": None,
                "started_at": frame.get("started_at", self.now_iso),
                "finished_at": None,
            }
            self.records[frame["id"]] = record
            self.executions.append(record)
        return record

    # ---- the loop ------------------------------------------------------------------

    def drain(self, max_steps: int) -> None:
        queue = self.queue
        frames = self.frames
        while queue and not self.stopped:
            if self.steps >= max_steps:
                self.budget_hit = True
                return
            frame = frames.get(queue.pop(0))
            if frame is not None:
                self.steps += 1
                self.execute(frame)

    def execute(self, frame: dict) -> None:
        node = self.nodes[frame["node"]]
        fid = frame["id"]
        frame["status"] = "running"
        now_iso = self.now_iso
        self.seq += 1
        self.journal.append({
            "sequence": self.seq, "event": "started", "activity_id": node.id,
            "activity_type": node.type, "message": None, "data": None, "timestamp": now_iso,
        })
        record = {
            "key": fid, "activity_id": node.id, "type": node.type, "status": "running",
            "attempt": frame.get("attempt", 1), "input": None, "output": None, "outcome": None,
            "error": None, "started_at": now_iso, "finished_at": None,
        }
        self.executions.append(record)
        self.records[fid] = record
        try:
            props = dict(node.literals)
            for name in node.mutable_literals:
                props[name] = clone(props[name])
            if node.dynamic:
                names = self.names_for(frame)
                for name, evaluate, source in node.dynamic:
                    props[name] = _state_value(name, evaluate(names), source)
            record["input"] = recorded_input(node, props)
            trigger = self.state.get("trigger")
            if trigger is not None and node.is_trigger and trigger["activity_id"] == node.id:
                # The stimulus that started the instance is this activity's own completion.
                self.state["trigger"] = None
                self.complete(frame, trigger.get("payload"), DONE)
                return
            node.activity.execute(ActivityContext(self, frame, node, props))
        except Exception as exc:  # any activity failure becomes an incident
            self.incident_from(frame, node, exc)
            return
        if fid in self.frames:
            # Still running after execute (waits, tasks, composites): keep what the record
            # needs when it completes in a later call.
            frame["started_at"] = now_iso
            frame["input"] = props

    def names_for(self, frame: dict) -> dict:
        names = self.base_names.copy()
        names["result"] = frame["result"]
        scope = frame["scope"]
        if scope:
            names.update(scope)
        return names

    def evaluate_property(self, frame: dict, node, name: str):
        for prop, evaluate, source in node.dynamic:
            if prop == name:
                return _state_value(name, evaluate(self.names_for(frame)), source)
        value = node.literals.get(name)
        return clone(value) if isinstance(value, _CLONE_TYPES) else value

    # ---- scheduling and completion -------------------------------------------------

    def schedule(self, parent: dict, child_id: str, callback: str, tag, scope, result) -> str:
        state = self.state
        number = state["next_id"] + 1
        state["next_id"] = number
        fid = f"w{number}"
        self.frames[fid] = {
            "id": fid, "node": child_id, "parent": parent["id"], "callback": callback,
            "status": "queued", "result": result,
            "scope": scope if scope is not None else parent["scope"], "tag": tag,
        }
        self.queue.append(fid)
        self.scheduled.append(fid)
        return fid

    def complete(self, frame: dict, output, outcomes: tuple, error: str | None = None, *,
                 failure_checked: bool = False) -> None:
        fid = frame["id"]
        if fid not in self.frames:
            return  # already completed or cancelled
        node = self.nodes[frame["node"]]
        if not failure_checked and node.activity.failure_outcomes \
                and self.unrouted_failure_faults:
            unrouted = self.unrouted_failure(frame, node, outcomes)
            if unrouted is not None:
                self.fault_unrouted(frame, node, output, unrouted, error)
                return
        del self.frames[fid]
        self.state["activity_outputs"][node.id] = output
        self.seq += 1
        self.journal.append({
            "sequence": self.seq, "event": "completed", "activity_id": node.id,
            "activity_type": node.type, "message": None, "data": None,
            "timestamp": self.now_iso,
        })
        record = self.records.get(fid) or self.record_of(frame, node)
        record["status"] = "completed"
        record["output"] = output
        record["outcome"] = outcomes[0] if len(outcomes) == 1 else ",".join(outcomes)
        record["finished_at"] = self.now_iso
        if error is not None:
            record["error"] = error
        parent_id = frame["parent"]
        if parent_id is None:
            self.end_workflow("finished")
            return
        parent = self.frames.get(parent_id)
        if parent is None or self.stopped:
            return
        parent_node = self.nodes[parent["node"]]
        callback = getattr(parent_node.activity, frame["callback"])
        try:
            callback(ActivityContext(self, parent, parent_node, parent.get("input")),
                     node.id, output, outcomes, frame["tag"])
        except Exception as exc:  # see execute
            self.incident_from(parent, parent_node, exc)

    def unrouted_failure(self, frame: dict, node, outcomes: tuple) -> str | None:
        """The first failure outcome among `outcomes` that the parent routes nowhere."""
        parent = self.frames.get(frame["parent"]) if frame["parent"] is not None else None
        parent_node = self.nodes[parent["node"]] if parent is not None else None
        for outcome in outcomes:
            if outcome not in node.activity.failure_outcomes:
                continue
            if parent_node is None or not parent_node.activity.routes_outcome(
                    parent_node, node.id, outcome):
                return outcome
        return None

    def fault_unrouted(self, frame: dict, node, output, outcome: str, error) -> None:
        """A failure nothing handles is an incident (retryable from this activity), never a
        quiet success of the workflow."""
        detail = error
        if detail is None and isinstance(output, dict):
            detail = output.get("error") or (
                f"status {output['status']}" if output.get("status") is not None else None)
        message = (f"{node.type} '{node.id}' took the outcome '{outcome}' and nothing is "
                   f"connected to it" + (f": {detail}" if detail else ""))
        self.record_of(frame, node)["output"] = output
        self.incident(frame, node, message, "unrouted_failure", None)

    def children_of(self, fid: str) -> list[str]:
        return [f["id"] for f in self.frames.values() if f["parent"] == fid]

    def descendants(self, roots: list[str]) -> list[str]:
        kids: dict[str, list[str]] = {}
        for f in self.frames.values():
            kids.setdefault(f["parent"], []).append(f["id"])
        order, stack = [], list(roots)
        while stack:
            fid = stack.pop()
            order.append(fid)
            stack.extend(kids.get(fid, ()))
        return order

    def cancel_frames(self, roots: list[str]) -> None:
        """Cancels these frames and their subtrees: bookmarks go, tasks are disowned."""
        dropped_from_queue = False
        for fid in self.descendants(roots):
            frame = self.frames.pop(fid, None)
            if frame is None:
                continue
            if frame["status"] == "queued":
                dropped_from_queue = True
                continue  # never started: nothing to journal
            node = self.nodes[frame["node"]]
            self.entry("cancelled", node)
            record = self.record_of(frame, node)
            record["status"] = "cancelled"
            record["finished_at"] = self.now_iso
            key = frame.get("key", fid)
            if self.state["bookmarks"].pop(key, None) is not None:
                self.removed_bookmarks.append(key)
            if self.state["tasks"].pop(key, None) is not None:
                self.cancelled_tasks.append(key)
        if dropped_from_queue:
            self.queue[:] = [q for q in self.queue if q in self.frames]

    # ---- waits, tasks, effects -----------------------------------------------------

    def key_for(self, frame: dict) -> str:
        # A retried execution gets a fresh key so adapters never confuse its bookmark/task
        # with the one of the failed attempt.
        attempt = frame.get("attempt", 1)
        key = frame["id"] if attempt == 1 else f"{frame['id']}.{attempt}"
        frame["key"] = key
        return key

    def create_bookmark(self, frame, node, kind, name, due_at, data) -> str:
        key = self.key_for(frame)
        bookmark = {
            "key": key, "activity_id": node.id, "activity_type": node.type, "kind": kind,
            "name": name, "correlation_id": self.state["correlation_id"],
            "due_at": due_at.isoformat() if due_at is not None else None, "data": data,
        }
        self.state["bookmarks"][key] = bookmark
        self.bookmarks.append(bookmark)
        frame["status"] = "waiting"
        self.record_of(frame, node)["status"] = "waiting"
        self.entry("bookmarked", node, name, {"key": key, "kind": kind,
                                              "due_at": bookmark["due_at"]})
        return key

    def request_task(self, frame, node, task_input: dict, props: dict) -> str:
        key = self.key_for(frame)
        state = self.state
        timeout = node.timeout
        if timeout is None and isinstance(props.get("timeout"), int | float):
            timeout = props["timeout"]
        request = TaskRequest(
            key=key,
            instance_id=state["instance_id"],
            definition_id=state["definition_id"],
            activity_id=node.id,
            activity_type=node.type,
            input=task_input,
            attempt=1,
            retry=dict(node.retry) if node.retry is not None else dict(DEFAULT_RETRY_POLICY),
            timeout=timeout,
            queue=self.plan.options["queue"],
            correlation_id=state["correlation_id"],
            idempotency_key=f"{state['instance_id']}:{key}",
            secret_names=tuple(node.activity.secret_params),
        )
        state["tasks"][key] = {"frame": frame["id"], "activity_id": node.id}
        self.tasks.append(request)
        frame["status"] = "task"
        return key

    def add_effect(self, node, kind: str, fields: dict) -> None:
        effect = {"type": kind, "activity_id": node.id}
        effect.update(fields)
        self.effects.append(effect)

    def log(self, node, message, level: str) -> None:
        self.entry("log", node, message, {"level": level})

    def set_correlation_id(self, value) -> None:
        self.state["correlation_id"] = value
        self.base_names["correlation_id"] = value

    def set_payload(self, payload) -> None:
        self.state["payload"] = payload
        self.base_names["payload"] = payload

    # ---- incidents and the end -----------------------------------------------------

    def incident_from(self, frame: dict, node, exc: Exception) -> None:
        if isinstance(exc, ExpressionEvaluationError):
            source = getattr(exc, "source", None)
            message = f"{node.type} '{node.id}': expression failed: {exc}"
            self.incident(frame, node, message, "expression_error", source)
        elif isinstance(exc, ActivityError):
            self.incident(frame, node, f"{node.type} '{node.id}': {exc.message}", exc.code,
                          exc.expression)
        else:
            message = f"{node.type} '{node.id}': {type(exc).__name__}: {exc}"
            self.incident(frame, node, message, "internal_error", None)

    def incident(self, frame, node, message, code, expression, *, force: bool = False) -> None:
        incident = {
            "activity_id": node.id, "activity_type": node.type, "message": message,
            "code": code, "expression": expression, "timestamp": self.now_iso,
        }
        self.incidents.append(incident)
        self.state["incidents"].append(incident)
        self.entry("incident", node, message, {"code": code, "expression": expression})
        if frame["id"] not in self.frames:
            return
        if self.continue_on_incident and not force:
            # `continue`: the activity ends with no output and the workflow goes on.
            self.cancel_frames(self.children_of(frame["id"]))
            self.complete(frame, None, node.activity.fallback_outcomes, error=message,
                          failure_checked=True)
            return
        frame["status"] = "faulted"
        record = self.record_of(frame, node)
        record["status"] = "faulted"
        record["error"] = message
        record["finished_at"] = self.now_iso
        self.entry("faulted", node, message)
        self.state["faulted_frame"] = frame["id"]
        self.end_workflow("faulted", message)

    def end_workflow(self, status: str, message: str | None = None) -> None:
        if status in ("finished", "cancelled"):
            self.cancel_frames([f["id"] for f in self.frames.values() if f["parent"] is None
                                or f["parent"] not in self.frames])
        self.state["status"] = status
        self.stopped = True
        self.entry(f"workflow_{status}", None, message)

    def finish_from(self, frame: dict) -> None:
        """`Finish`: this activity completes and everything else is cancelled."""
        node = self.nodes[frame["node"]]
        self.frames.pop(frame["id"], None)
        self.entry("completed", node)
        record = self.record_of(frame, node)
        record.update(status="completed", outcome="done", finished_at=self.now_iso)
        self.end_workflow("finished")

    def break_loop(self, frame: dict) -> None:
        """`Break`: the innermost running loop above `frame` completes now."""
        node = self.nodes[frame["node"]]
        loop = self.frames.get(frame["parent"])
        while loop is not None and not self.nodes[loop["node"]].activity.is_loop:
            loop = self.frames.get(loop["parent"])
        if loop is None:
            raise ActivityError("Break is not inside a running loop", code="break_outside_loop")
        self.frames.pop(frame["id"], None)
        self.entry("completed", node)
        self.record_of(frame, node).update(status="completed", outcome="done",
                                           finished_at=self.now_iso)
        self.cancel_frames(self.children_of(loop["id"]))
        loop_data = loop.get("data") or {}
        self.complete(loop, loop_data.get("last"), DONE)

    # ---- the result ----------------------------------------------------------------

    def mask_secret_values(self) -> None:
        """No value read through `secrets` leaves this call: tasks get signed markers, and
        everything stored or shown gets the mask (see runtime.engine.secrets)."""
        secrets = self.base_names["secrets"]
        values = secrets.values_to_mask()
        if not values:
            return
        self.tasks = [replace(task, input=seal(task.input, dict(dict.items(secrets)),
                                                   task.instance_id))
                      for task in self.tasks]
        for part in (self.journal, self.executions, self.effects, self.incidents, self.state):
            mask_in_place(part, values)

    def result(self, *, ignored: bool = False) -> EngineResult:
        state = self.state
        state["journal_seq"] = self.seq
        status = state["status"]
        if status not in TERMINAL and not ignored:
            if self.budget_hit:
                status = "budget_exhausted"
                state["status"] = "running"
            elif self.queue or state["tasks"]:
                status = state["status"] = "running"
            elif state["bookmarks"]:
                status = state["status"] = "suspended"
            elif self.frames:
                # Nothing runnable, nothing awaited, yet unfinished work: a plan that can
                # never complete (e.g. a wait_all Join outside a Flowchart's reach).
                root = next(iter(self.frames.values()))
                self.incident(root, self.nodes[root["node"]], "workflow stalled: nothing left "
                              "to run or wait for", "stalled", None, force=True)
                status = state["status"]
                state["journal_seq"] = self.seq
            else:
                status = state["status"] = "finished"
        self.mask_secret_values()
        queued = set(self.queue)
        return EngineResult(
            status=status,
            journal=self.journal,
            executions=self.executions,
            tasks=self.tasks,
            bookmarks=self.bookmarks,
            removed_bookmarks=self.removed_bookmarks,
            cancelled_tasks=self.cancelled_tasks,
            effects=self.effects,
            incidents=self.incidents,
            scheduled=[fid for fid in self.scheduled if fid in queued],
            steps=self.steps,
            output=state["output"],
            correlation_id=state["correlation_id"],
            ignored=ignored,
        )
