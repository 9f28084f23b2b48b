"""What an instance is doing now, in data and in words: the bookmarks it waits on (events,
timers, HTTP requests, children), the task attempts queued for a retry, an operator's hold and
a fault. The API's `waiting_on` and the admin's "now" panel both read this."""

from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Q
from django.utils import timezone

from workflows.models import (
    ActivityExecution,
    Bookmark,
    Incident,
    InstanceStatus,
    Step,
    StepKind,
    StepStatus,
    WorkflowInstance,
)


@dataclass
class WaitingOn:
    events: list[dict] = field(default_factory=list)
    timers: list[dict] = field(default_factory=list)
    http_requests: list[dict] = field(default_factory=list)
    children: list[dict] = field(default_factory=list)
    retries: list[dict] = field(default_factory=list)
    tasks: list[dict] = field(default_factory=list)
    held: dict | None = None
    fault: dict | None = None

    def as_dict(self, *, now: datetime | None = None) -> dict:
        return {
            "events": self.events, "timers": self.timers, "http_requests": self.http_requests,
            "children": self.children, "retries": self.retries, "tasks": self.tasks,
            "summary": waiting_sentences(self, now=now or timezone.now()),
        }


def _bookmark_kind(bookmark: Bookmark) -> str:
    return (bookmark.data or {}).get("kind") or ""


def instance_waiting_on(*, instance: WorkflowInstance) -> WaitingOn:
    """A handful of indexed queries on this one instance (bookmarks, steps, children)."""
    waiting = WaitingOn()
    if instance.held:
        waiting.held = {"by": instance.held_by or None, "since": instance.held_at}
    if instance.status == InstanceStatus.FAULTED:
        incident = Incident.objects.filter(instance=instance).order_by("-created_at", "-id") \
            .first()
        if incident is not None:
            execution = (ActivityExecution.objects.filter(
                instance=instance, instance_created_at=instance.created_at,
                activity_id=incident.activity_id, status="faulted")
                .order_by("-id").only("traceback").first()) if incident.activity_id else None
            waiting.fault = {
                "activity_id": incident.activity_id or None, "code": incident.code,
                "message": incident.message,
                "traceback": (incident.data or {}).get("traceback")
                or (execution.traceback if execution else "") or None,
            }
    if instance.status not in InstanceStatus.active():
        return waiting
    bookmarks = list(Bookmark.objects.filter(instance=instance).order_by("created_at"))
    child_keys = [b.key for b in bookmarks if _bookmark_kind(b) == "child"]
    children = {c.parent_bookmark_key: c for c in WorkflowInstance.objects.filter(
        parent=instance, parent_bookmark_key__in=child_keys).only(
        "id", "definition_id", "status", "parent_bookmark_key")} if child_keys else {}
    for bookmark in bookmarks:
        kind = _bookmark_kind(bookmark)
        base = {"bookmark_id": str(bookmark.id), "activity_id": bookmark.activity_id}
        if kind == "event":
            waiting.events.append({**base, "event": bookmark.name,
                                   "correlation_id": bookmark.correlation_id})
        elif kind == "timer":
            waiting.timers.append({**base, "due_at": bookmark.due_at})
        elif kind == "http":
            waiting.http_requests.append({**base, "path": bookmark.data.get("path"),
                                          "methods": bookmark.data.get("methods")})
        elif kind == "child":
            child = children.get(bookmark.key)
            waiting.children.append({
                **base, "definition_id": bookmark.name,
                "instance_id": str(child.id) if child else None,
                "status": child.status if child else None})
    steps = list(Step.objects.filter(instance=instance, kind=StepKind.TASK,
                                     status__in=[StepStatus.PENDING, StepStatus.RUNNING])
                 .order_by("run_after"))
    retrying = [s for s in steps if s.attempt > 1 and s.status == StepStatus.PENDING]
    last_errors = _last_errors(instance, retrying)
    for step in steps:
        payload = step.payload or {}
        entry = {"step_id": str(step.id), "activity_id": payload.get("activity_id"),
                 "activity_type": payload.get("activity_type"), "attempt": step.attempt,
                 "max_attempts": (payload.get("retry") or {}).get("max_attempts"),
                 "status": step.status}
        if step in retrying:
            waiting.retries.append({**entry, "next_try_at": step.run_after,
                                    "last_error": last_errors.get((step.task_key,
                                                                   step.attempt - 1))})
        else:
            waiting.tasks.append(entry)
    return waiting


def _last_errors(instance: WorkflowInstance, retrying: list[Step]) -> dict:
    """(task key, attempt) -> the error message of that failed attempt, in one query."""
    if not retrying:
        return {}
    wanted = Q()
    for step in retrying:
        wanted |= Q(task_key=step.task_key, attempt=step.attempt - 1)
    return {(s.task_key, s.attempt): (s.error or {}).get("message")
            for s in Step.objects.filter(wanted, instance=instance).only(
                "task_key", "attempt", "error")}


def _when(moment: datetime | None, now: datetime) -> str:
    if moment is None:
        return "at an unknown time"
    seconds = (moment - now).total_seconds()
    stamp = f"{moment:%Y-%m-%d %H:%M:%S} UTC"
    if seconds >= 0:
        return f"at {stamp} (in {_duration(seconds)})"
    return f"at {stamp} ({_duration(-seconds)} ago)"


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    # Rounded, not truncated: a retry due in 599.8 s reads "in 10 minutes".
    minutes = round(seconds / 60)
    if minutes < 120:
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    hours = round(minutes / 60)
    if hours < 48:
        return f"{hours} hours"
    return f"{round(hours / 24)} days"


def waiting_sentences(waiting: WaitingOn, *, now: datetime) -> list[str]:
    """One plain sentence per thing the instance waits on (what operators read first)."""
    lines = []
    if waiting.held:
        since = waiting.held["since"]
        lines.append(f"Held by {waiting.held['by'] or 'an operator'}"
                     + (f" since {since:%Y-%m-%d %H:%M:%S} UTC" if since else "")
                     + ": nothing runs until it is resumed.")
    if waiting.fault:
        lines.append(f"Faulted in {waiting.fault['activity_id'] or 'the workflow'}: "
                     f"{waiting.fault['message']}")
    for event in waiting.events:
        correlation = event["correlation_id"]
        lines.append(f"Waiting for the event '{event['event']}' "
                     + (f"with correlation id '{correlation}'" if correlation
                        else "(any correlation id)")
                     + f" in {event['activity_id']}.")
    for timer in waiting.timers:
        lines.append(f"Timer {timer['activity_id']} is due {_when(timer['due_at'], now)}.")
    for request in waiting.http_requests:
        methods = ", ".join(request["methods"] or []) or "any method"
        lines.append(f"Waiting for an HTTP request ({methods}) on {request['path']} in "
                     f"{request['activity_id']}.")
    for child in waiting.children:
        lines.append(f"Waiting for the child workflow {child['definition_id']}"
                     + (f" (instance {child['instance_id']}, {child['status']})"
                        if child["instance_id"] else "") + f" in {child['activity_id']}.")
    for retry in waiting.retries:
        of = f" of {retry['max_attempts']}" if retry["max_attempts"] else ""
        lines.append(f"Retrying {retry['activity_id']}: attempt {retry['attempt']}{of}, next "
                     f"try {_when(retry['next_try_at'], now)}"
                     + (f"; last error: {retry['last_error']}" if retry["last_error"] else "")
                     + ".")
    for task in waiting.tasks:
        state = "running" if task["status"] == StepStatus.RUNNING else "queued for a worker"
        lines.append(f"{task['activity_id']} ({task['activity_type']}) is {state}, attempt "
                     f"{task['attempt']}.")
    return lines
