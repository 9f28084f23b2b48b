"""Shared helpers: definitions in a few lines, and a driver that stores the state as JSON
between every engine call, as the database adapter does."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from runtime.activities import default_registry, register_builtins
from runtime.engine import (
    ActivityRegistry,
    advance,
    cancel,
    compile_definition,
    complete_task,
    fail_task,
    resume_bookmark,
    start_state,
    validate_input,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def definition(root: dict, **extra) -> dict:
    body = {"name": "test", "definition_id": "test"}
    body.update(extra)
    body["root"] = root
    return body


def fresh_registry() -> ActivityRegistry:
    registry = ActivityRegistry()
    register_builtins(registry)
    return registry


class Driver:
    """Runs one instance; `self.state` goes through json.dumps/json.loads around every call."""

    def __init__(self, body: dict, *, input=None, correlation_id=None, registry=None,
                 trigger=None, now=NOW, max_steps=10_000):
        self.plan = compile_definition(body, registry or default_registry())
        clean, problems = validate_input(self.plan, input or {})
        assert problems == [], problems
        self.now = now
        self.max_steps = max_steps
        self._state = json.dumps(start_state(self.plan, instance_id="inst-1", input=clean,
                                             correlation_id=correlation_id, now=now,
                                             trigger=trigger))
        self.results = []

    @property
    def state(self) -> dict:
        return json.loads(self._state)

    def _call(self, fn, **kwargs):
        state = json.loads(self._state)
        result = fn(self.plan, state, now=self.now, **kwargs)
        self._state = json.dumps(state)
        json.dumps(result.as_dict())  # what the adapter stores must be JSON too
        self.results.append(result)
        return result

    def advance(self, max_steps=None):
        return self._call(advance, max_steps=max_steps or self.max_steps)

    def resume(self, key, payload=None):
        return self._call(resume_bookmark, bookmark_key=key, payload=payload,
                          max_steps=self.max_steps)

    def complete(self, key, output=None):
        return self._call(complete_task, task_key=key, output=output)

    def fail(self, key, error="boom"):
        return self._call(fail_task, task_key=key, error=error)

    def cancel(self):
        return self._call(cancel)

    def pass_time(self, seconds: float) -> None:
        self.now = self.now + timedelta(seconds=seconds)

    # ---- views over everything the calls returned --------------------------------

    @property
    def journal(self) -> list[dict]:
        return [entry for r in self.results for entry in r.journal]

    def logs(self) -> list[str]:
        return [e["message"] for e in self.journal if e["event"] == "log"]

    def completed_ids(self) -> list[str]:
        return [e["activity_id"] for e in self.journal if e["event"] == "completed"]

    def open_bookmarks(self) -> dict:
        return self.state["bookmarks"]

    def open_tasks(self) -> dict:
        return self.state["tasks"]


def log(activity_id: str, text) -> dict:
    return {"id": activity_id, "type": "WriteLine", "text": text}


def seq(activity_id: str, *activities) -> dict:
    return {"id": activity_id, "type": "Sequence", "activities": list(activities)}


def expr(source: str) -> dict:
    return {"expr": source}
