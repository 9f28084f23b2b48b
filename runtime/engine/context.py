"""The handle an activity gets while it runs: its frame, its properties, and the run."""

from __future__ import annotations

from runtime.engine.errors import EngineError

DONE = ("done",)


class ActivityError(EngineError):
    """An activity cannot go on (bad value at run time); becomes an incident."""

    def __init__(self, message: str, *, code: str = "activity_error",
                 expression: str | None = None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.expression = expression


class ActivityContext:
    """One activity execution. `frame` is the JSON work item; `props` the evaluated values.

    Composite activities keep their progress in `ctx.data` (JSON) and name their completion
    callbacks by method name, so that the state never holds Python objects.
    """

    __slots__ = ("call", "frame", "node", "props")

    def __init__(self, call, frame: dict, node, props: dict | None = None):
        self.call = call
        self.frame = frame
        self.node = node
        self.props = props

    # ---- reading ---------------------------------------------------------------------

    @property
    def activity_id(self) -> str:
        return self.node.id

    @property
    def state(self) -> dict:
        return self.call.state

    @property
    def now(self):
        return self.call.now

    @property
    def data(self) -> dict:
        data = self.frame.get("data")
        if data is None:
            data = self.frame["data"] = {}
        return data

    @property
    def scope(self) -> dict | None:
        return self.frame.get("scope")

    @property
    def result(self):
        return self.frame.get("result")

    def evaluate(self, name: str):
        """Evaluates one property again (loop conditions are re-checked every iteration)."""
        return self.call.evaluate_property(self.frame, self.node, name)

    # ---- acting ----------------------------------------------------------------------

    def complete(self, output=None, outcomes: tuple[str, ...] | list[str] = DONE) -> None:
        self.call.complete(self.frame, output, tuple(outcomes))

    def schedule(self, child_id: str, callback: str, *, tag=None, scope: dict | None = None,
                 result=None) -> str:
        """Queues a child activity; `callback` names this activity's method called with
        (ctx, child_id, output, outcomes, tag) when the child completes."""
        return self.call.schedule(self.frame, child_id, callback, tag, scope, result)

    def live_children(self) -> list[str]:
        return self.call.children_of(self.frame["id"])

    def cancel(self, frame_ids) -> None:
        """Cancels these child work items and everything under them."""
        self.call.cancel_frames(list(frame_ids))

    def bookmark(self, *, kind: str, name: str | None = None, due_at=None,
                 data: dict | None = None) -> str:
        return self.call.create_bookmark(self.frame, self.node, kind, name, due_at, data)

    def request_task(self, task_input: dict) -> str:
        return self.call.request_task(self.frame, self.node, task_input, self.props or {})

    def effect(self, kind: str, **fields) -> None:
        self.call.add_effect(self.node, kind, fields)

    def log(self, message, level: str = "info") -> None:
        self.call.log(self.node, message, level)

    def fail(self, message: str, *, code: str = "activity_error") -> None:
        raise ActivityError(message, code=code)

    def fault_workflow(self, message: str, code: str | None) -> None:
        self.call.incident(self.frame, self.node, message, code or "fault", None, force=True)

    def finish_workflow(self) -> None:
        self.call.finish_from(self.frame)

    def break_loop(self) -> None:
        self.call.break_loop(self.frame)

    def set_variable(self, name: str, value) -> None:
        self.call.state["variables"][name] = value

    def set_output(self, name: str, value) -> None:
        self.call.state["output"][name] = value

    def set_correlation_id(self, value) -> None:
        self.call.set_correlation_id(value)
