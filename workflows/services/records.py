"""Collects what engine calls decided and writes it in a fixed number of bulk statements.

However many inline activities an engine call executes, persisting it costs the same statements: one
UPDATE of the instance, one INSERT of journal entries, one upsert of activity executions, one
INSERT of bookmarks, one DELETE of claimed/cancelled bookmarks, one INSERT of incidents.
"""

import hashlib
from datetime import UTC, datetime

import structlog
from django.utils.dateparse import parse_datetime

from runtime.engine import EngineResult
from workflows import instruments, tracing
from workflows.models import (
    ActivityExecution,
    Bookmark,
    Incident,
    InstanceStatus,
    JournalEntry,
    WorkflowInstance,
)

EXECUTION_UPDATE_FIELDS = ["status", "attempt", "input", "output", "outcome", "error",
                           "traceback", "started_at", "finished_at"]
logger = structlog.get_logger(__name__)


def bookmark_hash(name: str, correlation_id: str | None) -> str:
    return hashlib.sha256(f"{name}\x00{correlation_id or ''}".encode()).hexdigest()


def _time(value: str | datetime | None) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return parse_datetime(value)


class ResultRecorder:
    """The records of one or more engine calls on one instance, written by `flush`."""

    def __init__(self, instance: WorkflowInstance) -> None:
        self.instance = instance
        self.journal: list[dict] = []
        self.executions: dict[str, dict] = {}
        self.bookmarks: dict[str, dict] = {}
        self.removed_bookmarks: set[str] = set()
        self.incidents: list[dict] = []
        self.status: str | None = None

    def add(self, result: EngineResult) -> EngineResult:
        self.journal += result.journal
        for record in result.executions:
            self.executions[record["key"]] = record
        for bookmark in result.bookmarks:
            self.bookmarks[bookmark["key"]] = bookmark
        for key in result.removed_bookmarks:
            if self.bookmarks.pop(key, None) is None:
                self.removed_bookmarks.add(key)
        self.incidents += result.incidents
        self.status = result.status
        return result

    def journal_note(self, message: str, data: dict | None = None) -> None:
        """A journal line of the adapter's own (not an engine decision)."""
        state = self.instance.state
        state["journal_seq"] = state.get("journal_seq", 0) + 1
        self.journal.append({"sequence": state["journal_seq"], "event": "log",
                             "message": message, "data": data,
                             "timestamp": datetime.now(tz=UTC).isoformat()})

    def is_simple(self) -> bool:
        """Only what the hot path writes in one statement (`apply.ResultApplier.write_at_once`):
        the instance row, journal entries, execution records, timers (new `timer` bookmarks)
        and bookmarks removed. Not incidents, nor a new event wait (a retained event may be
        waiting for it), an HTTP endpoint or a child's bookmark."""
        return not self.incidents and all(
            b.get("kind") == "timer" for b in self.bookmarks.values()) and \
            not (self.removed_bookmarks & self.bookmarks.keys())

    def prepare(self, *, now: datetime) -> str:
        """Set the instance's columns from its engine state; returns its status before."""
        instance = self.instance
        state = instance.state
        status_before = instance.status
        status = state.get("status", InstanceStatus.RUNNING)
        instance.status = status if status in InstanceStatus.values else InstanceStatus.RUNNING
        if instance.held and instance.status in InstanceStatus.active():
            instance.status = InstanceStatus.SUSPENDED  # held by an operator
        instance.output = state.get("output", {})
        instance.variables = state.get("variables", {})
        instance.correlation_id = state.get("correlation_id")
        if instance.status in (InstanceStatus.FINISHED, InstanceStatus.FAULTED,
                               InstanceStatus.CANCELLED) and instance.finished_at is None:
            instance.finished_at = now
        return status_before

    def journal_rows(self) -> list[JournalEntry]:
        instance = self.instance
        return [
            JournalEntry(
                instance=instance, instance_created_at=instance.created_at,
                sequence=entry["sequence"], event=entry["event"],
                activity_id=entry.get("activity_id") or "",
                activity_type=entry.get("activity_type") or "",
                message=str(entry.get("message") or ""), data=entry.get("data"),
                timestamp=_time(entry["timestamp"]),
            )
            for entry in self.journal
        ]

    def execution_rows(self) -> list[ActivityExecution]:
        instance = self.instance
        return [
            ActivityExecution(
                instance=instance, instance_created_at=instance.created_at,
                key=record["key"], activity_id=record["activity_id"],
                activity_type=record["type"], status=record["status"],
                attempt=record.get("attempt") or 1, input=record.get("input"),
                output=record.get("output"), outcome=record.get("outcome"),
                error=record.get("error"), traceback=record.get("traceback") or "",
                started_at=_time(record.get("started_at")),
                finished_at=_time(record.get("finished_at")),
            )
            for record in self.executions.values()
        ]

    def bookmark_rows(self) -> list[Bookmark]:
        instance = self.instance
        return [
            Bookmark(
                tenant_id=instance.tenant_id, instance=instance, key=bookmark["key"],
                activity_id=bookmark["activity_id"], activity_type=bookmark["activity_type"],
                name=bookmark["name"],
                hash=bookmark_hash(bookmark["name"], bookmark.get("correlation_id")),
                correlation_id=bookmark.get("correlation_id"),
                data={"kind": bookmark.get("kind"), **(bookmark.get("data") or {})},
                due_at=_time(bookmark.get("due_at")),
            )
            for bookmark in self.bookmarks.values()
        ]

    def written(self, status_before: str) -> None:
        """After the records are written: logs, span attributes, metrics; starts afresh."""
        instance = self.instance
        if instance.status == InstanceStatus.FAULTED and status_before != InstanceStatus.FAULTED:
            last = self.incidents[-1] if self.incidents else {}
            logger.warning("instance_faulted", instance_id=str(instance.id),
                           definition_id=instance.definition_id,
                           correlation_id=instance.correlation_id,
                           activity_id=last.get("activity_id"), code=last.get("code"),
                           message=last.get("message"))
        tracing.annotate_instance(instance)
        instruments.records_observe_on_commit(instance=instance, status_before=status_before,
                                              executions=list(self.executions.values()))
        self.__init__(instance)

    def flush(self, *, now: datetime) -> WorkflowInstance:
        instance = self.instance
        status_before = self.prepare(now=now)
        instance.save()
        if self.journal:
            JournalEntry.objects.bulk_create(self.journal_rows())
        if self.executions:
            ActivityExecution.objects.bulk_create(
                self.execution_rows(),
                update_conflicts=True,
                unique_fields=["instance", "key", "instance_created_at"],
                update_fields=EXECUTION_UPDATE_FIELDS,
            )
        if self.removed_bookmarks:
            Bookmark.objects.filter(instance=instance, key__in=self.removed_bookmarks).delete()
        if self.bookmarks:
            Bookmark.objects.bulk_create(self.bookmark_rows())
        if self.incidents:
            Incident.objects.bulk_create([
                Incident(
                    instance=instance, activity_id=incident.get("activity_id") or "",
                    activity_type=incident.get("activity_type") or "",
                    code=incident.get("code") or "incident", message=incident["message"],
                    data={key: incident[key] for key in ("expression", "traceback")
                          if incident.get(key)},
                    created_at=_time(incident.get("timestamp")) or now,
                )
                for incident in self.incidents
            ])
        self.written(status_before)
        return instance
