"""Fleet-wide figures an operator watches (served as Prometheus gauges at /metrics).

Every query here uses a partial index (`step_due`, `step_leased`, `bookmark_due`) or reads a
small table (workers, dead letters waiting for an operator), so a scrape stays cheap however
many finished instances and steps the database holds. Not tenant-scoped: these describe the
platform, not one tenant's data.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import connection
from django.db.models import Count, Min

from workflows.models import Bookmark, DeadLetter, Step, StepStatus
from workflows.selectors.workers import worker_list

TIMER_GRACE = timedelta(seconds=5)


@dataclass(frozen=True)
class OperationsSnapshot:
    steps_due: int
    oldest_due_step_age: float
    steps_running: int
    steps_stalled: int
    timers_overdue: int
    oldest_overdue_timer_age: float
    workers: dict[str, int] = field(default_factory=dict)
    dead_letters_waiting: int = 0


def _age(now: datetime, since: datetime | None) -> float:
    return max(0.0, (now - since).total_seconds()) if since else 0.0


def operations_snapshot(*, now: datetime) -> OperationsSnapshot:
    due = Step.objects.filter(status=StepStatus.PENDING, run_after__lte=now).aggregate(
        count=Count("id"), oldest=Min("run_after"))
    running = Step.objects.filter(status=StepStatus.RUNNING, lease_until__isnull=False)
    # Beat claims due timers every second; one still here 5 s after its time is late. Held
    # (suspended) instances' timers wait on purpose and are not counted.
    overdue_before = now - TIMER_GRACE
    timers = Bookmark.objects.filter(due_at__lt=overdue_before, instance__held=False).aggregate(
        count=Count("id"), oldest=Min("due_at"))
    workers: dict[str, int] = {}
    for state in worker_list(include_stopped=False).values_list("current_state", flat=True):
        workers[state] = workers.get(state, 0) + 1
    return OperationsSnapshot(
        steps_due=due["count"],
        oldest_due_step_age=_age(now, due["oldest"]),
        steps_running=running.count(),
        steps_stalled=running.filter(lease_until__lt=now).count(),
        timers_overdue=timers["count"],
        oldest_overdue_timer_age=_age(now, timers["oldest"]),
        workers=workers,
        dead_letters_waiting=DeadLetter.objects.filter(redriven_at__isnull=True).count(),
    )


def due_steps_by_queue(*, now: datetime) -> dict[str, tuple[int, float]]:
    """Per queue: pending steps whose time has come, and how long the oldest has waited (the
    partial index `step_due` bounds the scan to the backlog)."""
    rows = (Step.objects.filter(status=StepStatus.PENDING, run_after__lte=now)
            .values("queue").annotate(count=Count("id"), oldest=Min("run_after")))
    return {row["queue"]: (row["count"], _age(now, row["oldest"])) for row in rows}


def beat_lock_holders(*, lock_key: int) -> int:
    """Sessions holding the beat scheduler's advisory lock (0 or 1; PostgreSQL only)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
            "AND classid = 0 AND objid::bigint = %s AND objsubid = 1", [lock_key])
        return cursor.fetchone()[0]
