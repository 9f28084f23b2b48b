"""The engine's entry points: pure functions over (plan, JSON state, now)."""

from __future__ import annotations

from runtime.engine.errors import EngineError, InvalidTransition, Problem
from runtime.engine.executor import EngineCall, clone
from runtime.engine.results import TERMINAL, EngineResult
from runtime.engine.values import matches_type, type_of

STATE_FORMAT = 1
DEFAULT_MAX_STEPS = 10_000


def secret_names(plan) -> frozenset[str]:
    """Names marked secret in this plan: its secret inputs and its activities' secret
    parameters. Stored state lists them (`secret_names`) so that storage encrypts them."""
    names = {decl.name for decl in plan.inputs if decl.secret}
    for node in plan.nodes.values():
        names.update(node.activity.secret_params)
    return frozenset(names)


def validate_input(plan, raw_input) -> tuple[dict, list[Problem]]:
    """(clean input, problems): declared inputs checked, defaults applied, extras kept."""
    if raw_input is None:
        raw_input = {}
    if not isinstance(raw_input, dict):
        return {}, [Problem("input", "must be an object")]
    clean = dict(raw_input)
    problems = []
    for decl in plan.inputs:
        path = f"input.{decl.name}"
        value = raw_input.get(decl.name)
        if value is None:
            if decl.has_default:
                clean[decl.name] = clone(decl.default)
            elif decl.required:
                problems.append(Problem(path, "required"))
            else:
                clean[decl.name] = None
            continue
        if not matches_type(value, decl.type):
            problems.append(Problem(path, f"must be of type {decl.type}, got {type_of(value)}"))
    return clean, problems


def start_state(plan, *, instance_id: str, input: dict | None, correlation_id: str | None,
                now, trigger: dict | None = None) -> dict:
    """A new instance state with the root activity queued. EngineCall it with `run`.

    `input` should come from `validate_input`; missing declared inputs get their defaults here
    too. `trigger={"activity_id", "payload"}` when a trigger started the instance: that
    activity completes with the payload instead of waiting.
    """
    if now.tzinfo is None:
        raise ValueError("now must be a timezone-aware datetime")
    if trigger is not None:
        node = plan.nodes.get(trigger.get("activity_id"))
        if node is None or not node.is_trigger:
            raise EngineError(f"{trigger.get('activity_id')!r} is not a trigger of this plan")
        trigger = {"activity_id": node.id, "payload": trigger.get("payload")}
    clean = dict(input or {})
    for decl in plan.inputs:
        if clean.get(decl.name) is None and decl.has_default:
            clean[decl.name] = clone(decl.default)
    extra = {"secret_names": sorted(names)} if (names := secret_names(plan)) else {}
    return {**extra,
        "format": STATE_FORMAT,
        "instance_id": str(instance_id),
        "definition_id": plan.definition_id,
        "correlation_id": correlation_id,
        "status": "running",
        "created_at": now.isoformat(),
        "started": False,
        "input": clean,
        "variables": {d.name: clone(d.default) for d in plan.variables},
        "output": {d.name: clone(d.default) for d in plan.outputs if d.has_default},
        "activity_outputs": {},
        "payload": None,
        "trigger": trigger,
        "frames": {
            "w1": {"id": "w1", "node": plan.root_id, "parent": None, "callback": None,
                   "status": "queued", "result": None, "scope": None, "tag": None},
        },
        "queue": ["w1"],
        "next_id": 1,
        "journal_seq": 0,
        "bookmarks": {},
        "tasks": {},
        "incidents": [],
        "faulted_frame": None,
    }


def _begin(plan, state, now) -> EngineCall:
    call = EngineCall(plan, state, now)
    if not state["started"] and not call.stopped:
        state["started"] = True
        call.entry("workflow_started", None, None, {"trigger": state.get("trigger")})
    return call


def advance(plan, state: dict, *, now, max_steps: int = DEFAULT_MAX_STEPS) -> EngineResult:
    """Runs queued work until nothing is runnable or `max_steps` executions happened."""
    call = _begin(plan, state, now)
    if call.stopped:
        return call.result(ignored=True)
    call.drain(max_steps)
    return call.result()


def complete_task(plan, state: dict, *, task_key: str, output, now, attempt: int | None = None,
                  max_steps: int = DEFAULT_MAX_STEPS) -> EngineResult:
    """A task finished with `output`; the workflow then runs on. Unknown keys are ignored
    (a cancelled branch's task, or a duplicate delivery)."""
    call = _begin(plan, state, now)
    task = state["tasks"].get(task_key)
    if call.stopped or task is None:
        return call.result(ignored=True)
    del state["tasks"][task_key]
    frame = state["frames"][task["frame"]]
    node = plan.nodes[frame["node"]]
    ctx = _context(call, frame, node)
    if attempt is not None:
        call.record_of(frame, node)["attempt"] = attempt
    try:
        node.activity.task_completed(ctx, output)
    except Exception as exc:  # same policy as execute
        call.incident_from(frame, node, exc)
    call.drain(max_steps)
    return call.result()


def fail_task(plan, state: dict, *, task_key: str, error, now, attempt: int | None = None,
              max_steps: int = DEFAULT_MAX_STEPS) -> EngineResult:
    """A task failed for good (retries spent or not retryable): incident, then strategy.

    `task_key` may also name a bookmark (a child workflow that faulted): the wait fails the
    same way. `error` is a message, or a dict with at least `message` (e.g. also `type`,
    `attempt`). Unknown keys are ignored.
    """
    call = _begin(plan, state, now)
    if call.stopped:
        return call.result(ignored=True)
    task = state["tasks"].pop(task_key, None)
    if task is not None:
        frame = state["frames"][task["frame"]]
    elif state["bookmarks"].pop(task_key, None) is not None:
        frame = next(f for f in state["frames"].values() if f.get("key", f["id"]) == task_key)
        frame["status"] = "running"
    else:
        return call.result(ignored=True)
    node = plan.nodes[frame["node"]]
    message = error_message(error)
    if attempt is None and isinstance(error, dict) and isinstance(error.get("attempt"), int):
        attempt = error["attempt"]
    if attempt is not None:
        call.record_of(frame, node)["attempt"] = attempt
    incidents_before = len(call.incidents)
    try:
        node.activity.task_failed(_context(call, frame, node), message)
    except Exception as exc:  # an incident unless the activity maps failure to an outcome
        call.incident_from(frame, node, exc)
    traceback_text = error.get("traceback") if isinstance(error, dict) else None
    if isinstance(traceback_text, str) and traceback_text:
        # Operators see where a user activity failed: on its record and on its incident.
        call.record_of(frame, node)["traceback"] = traceback_text
        for incident in call.incidents[incidents_before:]:
            if incident["activity_id"] == node.id:
                incident["traceback"] = traceback_text
    call.drain(max_steps)
    return call.result()


def error_message(error) -> str:
    if isinstance(error, dict):
        return str(error.get("message") or error.get("type") or "failed")
    return str(error)


def resume_bookmark(plan, state: dict, *, bookmark_key: str, payload, now,
                    max_steps: int = DEFAULT_MAX_STEPS) -> EngineResult:
    """A waiting activity got its stimulus. Unknown keys are ignored."""
    call = _begin(plan, state, now)
    bookmark = state["bookmarks"].get(bookmark_key)
    if call.stopped or bookmark is None:
        return call.result(ignored=True)
    del state["bookmarks"][bookmark_key]
    frame = next(f for f in state["frames"].values() if f.get("key", f["id"]) == bookmark_key)
    node = plan.nodes[frame["node"]]
    call.set_payload(payload)
    frame["status"] = "running"
    call.entry("resumed", node, bookmark.get("name"), {"key": bookmark_key})
    try:
        node.activity.resume(_context(call, frame, node), payload)
    except Exception as exc:  # same policy as execute
        call.incident_from(frame, node, exc)
    call.drain(max_steps)
    return call.result()


def cancel(plan, state: dict, *, now) -> EngineResult:
    """Cancels everything pending; bookmarks are removed and tasks disowned. A faulted
    instance can be cancelled too (an operator gives up on it)."""
    call = EngineCall(plan, state, now)
    if state["status"] == "faulted":
        call.stopped = False
    if call.stopped:
        return call.result(ignored=True)
    call.end_workflow("cancelled")
    return call.result()


def fault(plan, state: dict, *, now, message: str, code: str,
          activity_id: str | None = None) -> EngineResult:
    """Faults a running instance from outside its activities (a poison step: the work a step
    carried kills every worker that runs it). An incident is recorded and the instance faults;
    its queue, tasks and bookmarks are kept, so `retry` goes on from exactly there."""
    call = EngineCall(plan, state, now)
    if call.stopped:
        return call.result(ignored=True)
    node = plan.nodes.get(activity_id) if activity_id else None
    incident = {
        "activity_id": activity_id, "activity_type": node.type if node else None,
        "message": message, "code": code, "expression": None, "timestamp": call.now_iso,
    }
    call.incidents.append(incident)
    state["incidents"].append(incident)
    call.entry("incident", node, message, {"code": code, "expression": None})
    state["faulted_frame"] = None
    state["faulted_outside"] = True
    call.end_workflow("faulted", message)
    return call.result()


def retry(plan, state: dict, *, now, max_steps: int = DEFAULT_MAX_STEPS) -> EngineResult:
    """Runs a faulted instance again from the activity that faulted (or, when it faulted
    outside its activities, from where it stood)."""
    if state["status"] == "faulted" and state.pop("faulted_outside", False):
        state["status"] = "running"
        call = EngineCall(plan, state, now)
        call.entry("workflow_retried", None, None, {"activity_id": None})
        call.drain(max_steps)
        return call.result()
    if state["status"] != "faulted" or state.get("faulted_frame") not in state["frames"]:
        raise InvalidTransition("only an instance faulted by an activity can be retried")
    fid = state["faulted_frame"]
    frame = state["frames"][fid]
    frame["attempt"] = frame.get("attempt", 1) + 1
    frame["status"] = "queued"
    frame.pop("data", None)
    state["faulted_frame"] = None
    state["status"] = "running"
    state["queue"].insert(0, fid)
    call = EngineCall(plan, state, now)
    call.entry("workflow_retried", None, None, {"activity_id": frame["node"]})
    call.drain(max_steps)
    return call.result()


def _context(call: EngineCall, frame: dict, node):
    from runtime.engine.context import ActivityContext

    return ActivityContext(call, frame, node, frame.get("input"))


__all__ = [
    "TERMINAL",
    "advance",
    "cancel",
    "complete_task",
    "fail_task",
    "fault",
    "resume_bookmark",
    "retry",
    "start_state",
    "validate_input",
]
