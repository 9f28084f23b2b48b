"""What one engine call tells its adapter."""

from __future__ import annotations

from dataclasses import dataclass, field

from runtime.engine.task_requests import TaskRequest

TERMINAL = ("finished", "faulted", "cancelled")


@dataclass(slots=True)
class EngineResult:
    # running | suspended | finished | faulted | cancelled | budget_exhausted
    status: str
    journal: list[dict] = field(default_factory=list)
    executions: list[dict] = field(default_factory=list)
    tasks: list[TaskRequest] = field(default_factory=list)
    bookmarks: list[dict] = field(default_factory=list)
    removed_bookmarks: list[str] = field(default_factory=list)
    cancelled_tasks: list[str] = field(default_factory=list)
    effects: list[dict] = field(default_factory=list)
    incidents: list[dict] = field(default_factory=list)
    # Work items created by this call that are still queued (budget ran out): a distributed
    # adapter may hand each one to a different worker.
    scheduled: list[str] = field(default_factory=list)
    # Activity executions started by this call.
    steps: int = 0
    output: dict = field(default_factory=dict)
    correlation_id: str | None = None
    # True when the call changed nothing: unknown/cancelled key, or a terminal instance.
    ignored: bool = False

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL

    def as_dict(self) -> dict:
        return {
            "status": self.status,
            "journal": self.journal,
            "executions": self.executions,
            "tasks": [t.as_dict() for t in self.tasks],
            "bookmarks": self.bookmarks,
            "removed_bookmarks": self.removed_bookmarks,
            "cancelled_tasks": self.cancelled_tasks,
            "effects": self.effects,
            "incidents": self.incidents,
            "scheduled": self.scheduled,
            "steps": self.steps,
            "output": self.output,
            "correlation_id": self.correlation_id,
            "ignored": self.ignored,
        }
