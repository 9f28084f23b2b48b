"""The definitions the model-based test runs: sequences, a flowchart loop and join, forks
(wait_all and wait_any), timers, events, an HTTP wait, a parent waiting on a child on another
queue, and task retries (every task is `test.model_step`, which fails when the machine says)."""

MODEL_QUEUE = "model-q"


def _task(activity_id: str) -> dict:
    return {"id": activity_id, "type": "test.model_step", "input": {"label": activity_id}}


def _sequence(definition_id: str, activities: list, **extra) -> dict:
    return {"definition_id": definition_id, "name": definition_id,
            "root": {"type": "Sequence", "id": "main", "activities": activities}, **extra}


SEQUENCE = _sequence("m-seq", [
    _task("seq-a"),
    {"id": "seq-log", "type": "WriteLine", "text": "between"},
    _task("seq-b"),
    {"id": "seq-out", "type": "SetOutput", "output": "done", "value": True},
], outputs=[{"name": "done", "type": "boolean"}])

WAITS = _sequence("m-wait", [
    {"id": "wait-go", "type": "Event", "event": "go"},
    _task("wait-a"),
    {"id": "wait-nap", "type": "Delay", "duration": "PT1H"},
    _task("wait-b"),
])

FORKS = _sequence("m-fork", [
    {"id": "fork-any", "type": "Fork", "join": "wait_any", "branches": [
        _task("fork-fast"),
        {"id": "fork-slow", "type": "Event", "event": "slow"},
    ]},
    {"id": "fork-all", "type": "Fork", "join": "wait_all", "branches": [
        _task("fork-left"),
        _task("fork-right"),
    ]},
    _task("fork-end"),
])

LOOP = {
    "definition_id": "m-loop", "name": "m-loop",
    "variables": [{"name": "i", "type": "integer", "default": 0}],
    "root": {"type": "Flowchart", "id": "main", "start": "loop-init", "activities": [
        {"id": "loop-init", "type": "SetVariable", "variable": "i", "value": 0},
        _task("loop-body"),
        {"id": "loop-inc", "type": "SetVariable", "variable": "i",
         "value": {"expr": "variables.i + 1"}},
        {"id": "loop-again", "type": "If", "condition": {"expr": "variables.i < 2"}},
        _task("loop-left"),
        _task("loop-right"),
        {"id": "loop-join", "type": "Join", "mode": "wait_all"},
        {"id": "loop-end", "type": "WriteLine", "text": "joined"},
    ], "connections": [
        {"source": "loop-init", "target": "loop-body"},
        {"source": "loop-body", "target": "loop-inc"},
        {"source": "loop-inc", "target": "loop-again"},
        {"source": "loop-again", "outcome": "true", "target": "loop-body"},
        {"source": "loop-again", "outcome": "false", "target": "loop-left"},
        {"source": "loop-again", "outcome": "false", "target": "loop-right"},
        {"source": "loop-left", "target": "loop-join"},
        {"source": "loop-right", "target": "loop-join"},
        {"source": "loop-join", "target": "loop-end"},
    ]},
}

CHILD = _sequence("m-child", [
    {"id": "child-go", "type": "Event", "event": "child-go"},
    _task("child-task"),
    {"id": "child-out", "type": "SetOutput", "output": "from_child", "value": 1},
], outputs=[{"name": "from_child", "type": "integer"}], options={"queue": MODEL_QUEUE})

PARENT = _sequence("m-parent", [
    {"id": "parent-call", "type": "ExecuteWorkflow", "definition_id": "m-child", "wait": True},
    _task("parent-after"),
])

HOOK = _sequence("m-hook", [
    {"id": "hook-in", "type": "HttpEndpoint", "path": "model/{correlation_id}",
     "methods": ["POST"]},
    {"id": "hook-answer", "type": "WriteHttpResponse", "status": 200, "body": "ok"},
    _task("hook-after"),
])

# Children first: a parent's ExecuteWorkflow must name a published definition.
ALL = [SEQUENCE, WAITS, FORKS, LOOP, CHILD, PARENT, HOOK]
STARTABLE = ["m-seq", "m-wait", "m-fork", "m-loop", "m-child", "m-parent", "m-hook"]


def task_labels() -> list[str]:
    labels = []

    def walk(node):
        if isinstance(node, dict):
            if node.get("type") == "test.model_step":
                labels.append(node["id"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for body in ALL:
        walk(body["root"])
    return sorted(labels)
