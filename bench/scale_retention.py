"""Retention at scale for `bench.scale`: archive-and-delete throughput while workers run.

Real Celery workers keep running small workflows (a closed loop keeps `in_flight` of them
started: three `examples.add` task steps each, dispatched like `bench.distributed` does) while
this process runs the retention job (`workflows.services.retention.retention_apply`, tick after
tick, as the beat task would) over seeded instances that a tenant policy made expired: first
with the archive on the local S3 (moto), then without. Phases, in order: load only; retention
with archive; retention without archive; load only again.

Reported per phase: instances archived and deleted per second, the workers' throughput
(workflows and steps finished per second, from the rows' own timestamps), the steps' time from
claim to done and from publish to claim (p99 and max), and lock waits: a watcher samples
`pg_locks` every 10 ms for backends of this database waiting on a lock, with when the wait
began (`waitstart`) and who holds it (`pg_blocking_pids`); a wait whose blockers include the
retention job's connection is a step (or the dispatcher) waiting on retention.
"""

from __future__ import annotations

import math
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bench.scale_seed import KEEP_DAYS

TERMINAL = ("finished", "faulted", "cancelled")
LOCK_WAIT_TARGET_MS = 100.0

WATCH_SQL = """
SELECT l.pid, l.locktype, l.mode, coalesce(l.relation::regclass::text, ''), l.waitstart,
       clock_timestamp(), pg_blocking_pids(l.pid), left(a.query, 160)
FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE NOT l.granted AND a.datname = current_database() AND l.pid <> pg_backend_pid()
"""
# The open transactions of the retention job's connections that locked or wrote rows (they
# have a transaction id): how long it holds what it locked.
TRANSACTIONS_SQL = """
SELECT pid, xact_start, clock_timestamp(), left(query, 120) FROM pg_stat_activity
WHERE pid = ANY(%s) AND xact_start IS NOT NULL AND backend_xid IS NOT NULL
"""


def connection_dsn() -> str:
    """A libpq connection string for Django's default database."""
    from django.db import connection
    from psycopg.conninfo import make_conninfo

    s = connection.settings_dict
    params = {"dbname": s["NAME"], "host": s["HOST"] or None, "port": s["PORT"] or None,
              "user": s["USER"] or None, "password": s["PASSWORD"] or None}
    return make_conninfo(**{k: str(v) for k, v in params.items() if v})


def backend_pid() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


@dataclass
class Wait:
    pid: int
    began: datetime
    last_seen: datetime
    blockers: set[int]
    what: str
    query: str

    @property
    def ms(self) -> float:
        return (self.last_seen - self.began).total_seconds() * 1000


class LockWatch(threading.Thread):
    """Samples the lock waits of one database until stopped."""

    def __init__(self, dsn: str, interval: float = 0.01) -> None:
        super().__init__(daemon=True, name="scale-lock-watch")
        self.dsn, self.interval = dsn, interval
        self.waits: dict[tuple[int, datetime | str], Wait] = {}
        self.retention_pids: set[int] = set()
        # (pid, xact_start) -> (xact_start, last seen): retention's transactions
        self.transactions: dict[tuple[int, datetime], tuple[datetime, datetime]] = {}
        # (pid, xact_start) -> the statements seen running in that transaction
        self.statements: dict[tuple[int, datetime], list[str]] = {}
        self.samples = 0
        self._stop_event = threading.Event()
        self.error: str = ""

    def run(self) -> None:
        import psycopg

        try:
            with psycopg.connect(self.dsn, autocommit=True) as conn:
                while not self._stop_event.is_set():
                    for pid, kind, mode, relation, began, now, blockers, query in \
                            conn.execute(WATCH_SQL).fetchall():
                        key = (pid, began or f"{kind}{mode}{relation}")
                        wait = self.waits.get(key)
                        if wait is None:
                            wait = self.waits[key] = Wait(
                                pid=pid, began=began or now, last_seen=now,
                                blockers=set(blockers or ()),
                                what=f"{mode} on {relation or kind}", query=query)
                        wait.last_seen = now
                        wait.blockers |= set(blockers or ())
                    if self.retention_pids:
                        for pid, began, now, query in conn.execute(
                                TRANSACTIONS_SQL, (list(self.retention_pids),)).fetchall():
                            self.transactions[(pid, began)] = (began, now)
                            seen = self.statements.setdefault((pid, began), [])
                            if query not in seen and len(seen) < 4:
                                seen.append(query)
                    self.samples += 1
                    time.sleep(self.interval)
        except Exception as exc:  # reported, never fatal: the watcher is only a witness
            self.error = f"{type(exc).__name__}: {exc}"

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=5)

    def longest_transaction(self, start: datetime, end: datetime) -> tuple[float, list[str]]:
        """(milliseconds, statements seen in it) of retention's longest transaction."""
        spans = [((seen - began).total_seconds() * 1000, key)
                 for key, (began, seen) in self.transactions.items()
                 if seen >= start and began <= end]
        if not spans:
            return 0.0, []
        ms, key = max(spans)
        return ms, self.statements.get(key, [])

    def between(self, start: datetime, end: datetime) -> list[Wait]:
        return [w for w in self.waits.values() if w.last_seen >= start and w.began <= end]


class Load(threading.Thread):
    """Keeps `in_flight` workflows of `definition_id` started until stopped."""

    def __init__(self, tenant, definition_id: str, in_flight: int) -> None:
        super().__init__(daemon=True, name="scale-load")
        self.tenant, self.definition_id, self.in_flight = tenant, definition_id, in_flight
        self.started: list = []
        self.failed = 0
        self.error = ""
        self._stop_event = threading.Event()

    def run(self) -> None:
        from django.db import connection

        from workflows.models import WorkflowInstance
        from workflows.services.instances import instance_dispatch

        open_ids: set = set()
        try:
            while not self._stop_event.is_set():
                if open_ids:
                    for pk, status in WorkflowInstance.objects.filter(
                            id__in=list(open_ids), status__in=TERMINAL).values_list(
                            "id", "status"):
                        open_ids.discard(pk)
                        self.failed += status != "finished"
                for _ in range(self.in_flight - len(open_ids)):
                    instance = instance_dispatch(tenant=self.tenant,
                                                 definition_id=self.definition_id,
                                                 input={"n": len(self.started)})
                    open_ids.add(instance.id)
                    self.started.append(instance.id)
                time.sleep(0.05)
        except Exception as exc:
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            connection.close()

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=30)


@dataclass
class Phase:
    name: str
    start: datetime
    end: datetime
    load_avg: str = ""
    retention: dict = field(default_factory=dict)  # RetentionReport fields, summed
    expired: int = 0  # instances the policy made expired when the phase began
    days: int = 0
    ticks: int = 0
    workflows_per_s: float = 0.0
    steps_per_s: float = 0.0
    run_p99_ms: float = 0.0
    run_max_ms: float = 0.0
    wait_p99_ms: float = 0.0
    wait_max_ms: float = 0.0
    retention_lock_max_ms: float = 0.0  # longest wait on a lock retention held
    retention_lock_waits: int = 0
    retention_lock_example: str = ""
    other_lock_max_ms: float = 0.0  # longest other wait (workers among themselves)
    other_lock_example: str = ""
    retention_waited_max_ms: float = 0.0  # retention itself waiting on others
    retention_transaction_max_ms: float = 0.0  # its longest transaction seen (10 ms samples)
    retention_transaction_statements: list[str] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()

    @property
    def removed_per_s(self) -> float:
        return self.retention.get("deleted", 0) / self.seconds if self.seconds else 0.0


def expire(tenant_pks: list[int], count: int) -> tuple[int, int]:
    """Set the tenants' retention (finished and faulted alike) so that about `count` of their
    ended instances are past it; (days, instances expired)."""
    from django.utils import timezone

    from workflows.models import Tenant, WorkflowInstance

    ended = WorkflowInstance.objects.filter(tenant_id__in=tenant_pks, status__in=TERMINAL,
                                            finished_at__isnull=False)
    now = timezone.now()
    at = (ended.order_by("finished_at").values_list("finished_at", flat=True)
          [max(0, count - 1):count].first())
    days = KEEP_DAYS if at is None else max(1, math.ceil((now - at) / timedelta(days=1)))
    Tenant.objects.filter(pk__in=tenant_pks).update(retention_finished_days=days,
                                                    retention_faulted_days=days)
    expired = ended.filter(finished_at__lt=now - timedelta(days=days)).count()
    return days, expired


def retention_until_done(store, watch: LockWatch | None, max_seconds: float,
                         log: Callable[[str], None]) -> tuple[dict, int]:
    """Retention ticks back to back until one removes nothing; (summed report, ticks)."""
    import dataclasses

    from workflows.services.retention import retention_apply

    totals: dict = {}
    ticks, began = 0, time.monotonic()
    while time.monotonic() - began < max_seconds:
        if watch is not None:
            watch.retention_pids.add(backend_pid())
        report = retention_apply(store=store)
        ticks += 1
        for name, value in dataclasses.asdict(report).items():
            totals[name] = totals.get(name, 0) + value
        if not (report.deleted or report.archived):
            break
        if ticks % 10 == 0:
            log(f"  retention: {totals.get('deleted', 0):,} deleted after "
                f"{time.monotonic() - began:.0f} s")
    return totals, ticks


def _ms(values: list[float], fraction: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * len(ordered) + 0.5) - 1)] * 1000


def load_figures(phase: Phase, tenant) -> None:
    """The workers' throughput and step times during `phase`, from the rows' timestamps."""
    from workflows.models import Step, WorkflowInstance

    window = {"finished_at__gte": phase.start, "finished_at__lt": phase.end}
    done = WorkflowInstance.objects.filter(tenant=tenant, status="finished", **window).count()
    steps = list(Step.objects.filter(tenant=tenant, **window).values_list(
        "published_at", "started_at", "finished_at"))
    phase.workflows_per_s = done / phase.seconds if phase.seconds else 0.0
    phase.steps_per_s = len(steps) / phase.seconds if phase.seconds else 0.0
    runs = [(f - s).total_seconds() for _, s, f in steps if s and f]
    waits = [(s - p).total_seconds() for p, s, _ in steps if p and s]
    phase.run_p99_ms, phase.run_max_ms = _ms(runs, 0.99), _ms(runs, 1.0)
    phase.wait_p99_ms, phase.wait_max_ms = _ms(waits, 0.99), _ms(waits, 1.0)


def lock_figures(phase: Phase, watch: LockWatch) -> None:
    waits = watch.between(phase.start, phase.end)
    retention = watch.retention_pids
    on_retention = [w for w in waits if w.blockers & retention and w.pid not in retention]
    others = [w for w in waits if not (w.blockers & retention) and w.pid not in retention]
    own = [w for w in waits if w.pid in retention]
    if on_retention:
        worst = max(on_retention, key=lambda w: w.ms)
        phase.retention_lock_max_ms = worst.ms
        phase.retention_lock_waits = len(on_retention)
        phase.retention_lock_example = f"{worst.what}: {worst.query}"
    if others:
        worst = max(others, key=lambda w: w.ms)
        phase.other_lock_max_ms = worst.ms
        phase.other_lock_example = f"{worst.what}: {worst.query}"
    if own:
        phase.retention_waited_max_ms = max(w.ms for w in own)
    if phase.retention:
        phase.retention_transaction_max_ms, phase.retention_transaction_statements = (
            watch.longest_transaction(phase.start, phase.end))


@dataclass
class RetentionResult:
    phases: list[Phase] = field(default_factory=list)
    watch_samples: int = 0
    watch_error: str = ""
    load_error: str = ""
    load_failed: int = 0
    in_flight: int = 0
    batch_size: int = 0
    per_tick: int = 0


def run_phases(*, tenant_pks: list[int], load_tenant, load_definition: str | None,
               store, expire_archive: int, expire_plain: int, load_seconds: float,
               in_flight: int, max_seconds: float,
               log: Callable[[str], None] = print) -> RetentionResult:
    """The four phases (the load ones only with `load_definition`)."""
    from django.conf import settings
    from django.utils import timezone

    result = RetentionResult(in_flight=in_flight, batch_size=settings.WEFT_RETENTION_BATCH_SIZE,
                             per_tick=settings.WEFT_RETENTION_MAX_PER_TICK)
    watch = LockWatch(connection_dsn())
    watch.start()
    load = Load(load_tenant, load_definition, in_flight) if load_definition else None

    def phase(name: str, body) -> Phase:
        import os

        current = Phase(name=name, start=timezone.now(), end=timezone.now(),
                        load_avg=" ".join(f"{v:.2f}" for v in os.getloadavg()))
        log(f"phase: {name} (load average {current.load_avg})")
        body(current)
        current.end = timezone.now()
        result.phases.append(current)
        return current

    def retention(store_or_none, count):
        def body(current: Phase) -> None:
            current.days, current.expired = expire(tenant_pks, count)
            log(f"  {current.expired:,} instances past a {current.days}-day retention")
            current.retention, current.ticks = retention_until_done(
                store_or_none, watch, max_seconds, log)
        return body

    try:
        if load is not None:
            load.start()
            time.sleep(min(10.0, load_seconds / 3))  # warm the workers first
            phase("load only (before)", lambda current: time.sleep(load_seconds))
        if expire_archive:
            phase("retention, archive to S3", retention(store, expire_archive))
        if expire_plain:
            phase("retention, no archive", retention(None, expire_plain))
        if load is not None:
            phase("load only (after)", lambda current: time.sleep(load_seconds))
    finally:
        if load is not None:
            load.stop()
            result.load_error, result.load_failed = load.error, load.failed
        time.sleep(0.05)
        watch.stop()
        result.watch_samples, result.watch_error = watch.samples, watch.error
    for current in result.phases:
        if load is not None:
            load_figures(current, load_tenant)
        lock_figures(current, watch)
    return result


def markdown(result: RetentionResult, with_load: bool) -> str:
    lines = ["| phase | seconds | load avg at start | instances expired / archived / deleted | "
             "deleted per s | workflows per s | steps per s | step claim to done p99 / max ms | "
             "step publish to claim p99 / max ms | longest wait on a lock retention held | "
             "retention's longest writing transaction | longest other lock wait |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for p in result.phases:
        removed = (f"{p.expired:,} / {p.retention.get('archived', 0):,} / "
                   f"{p.retention.get('deleted', 0):,}" if p.retention else "-")
        per_s = f"{p.removed_per_s:.0f}" if p.retention else "-"
        load = (f"{p.workflows_per_s:.1f} | {p.steps_per_s:.1f} | {p.run_p99_ms:.0f} / "
                f"{p.run_max_ms:.0f} | {p.wait_p99_ms:.0f} / {p.wait_max_ms:.0f}"
                if with_load else "- | - | - | -")
        retention_wait = (f"{p.retention_lock_max_ms:.0f} ms ({p.retention_lock_waits} waits)"
                          if p.retention_lock_waits else "none seen")
        other = f"{p.other_lock_max_ms:.0f} ms" if p.other_lock_max_ms else "none seen"
        transaction = f"{p.retention_transaction_max_ms:.0f} ms" if p.retention else "-"
        lines.append(f"| {p.name} | {p.seconds:.0f} | {p.load_avg} | {removed} | {per_s} | "
                     f"{load} | {retention_wait} | {transaction} | {other} |")
    return "\n".join(lines)


def summary(result: RetentionResult, with_load: bool) -> list[str]:
    """Sentences under the table: ratios, the lock verdict, examples."""
    out = []
    base = [p for p in result.phases if p.name.startswith("load only")]
    busy = [p for p in result.phases if p.retention]
    if with_load and base and busy:
        reference = statistics.mean(p.workflows_per_s for p in base)
        for p in busy:
            if reference:
                out.append(f"Workers' throughput during \"{p.name}\": "
                           f"{p.workflows_per_s / reference:.2f} x the mean of the load-only "
                           f"phases ({reference:.1f} workflows/s).")
    worst = max((p.retention_lock_max_ms for p in result.phases), default=0.0)
    verdict = "met" if worst <= LOCK_WAIT_TARGET_MS else "MISSED"
    out.append(f"Longest wait of any other backend on a lock held by retention: {worst:.0f} ms "
               f"(target <= {LOCK_WAIT_TARGET_MS:.0f} ms: {verdict}); lock watcher samples: "
               f"{result.watch_samples:,} at 10 ms"
               + (f"; watcher error: {result.watch_error}" if result.watch_error else "") + ".")
    longest = max((p.retention_transaction_max_ms for p in result.phases), default=0.0)
    if any(p.retention for p in result.phases):
        out.append(f"Retention's longest transaction that locked or wrote rows: {longest:.0f} "
                   "ms (sampled every 10 ms: how long it held what it locked, so about the "
                   "most a step could wait for it, whether or not one collided).")
    shown = {"archived", "deleted"}
    for p in result.phases:
        other = {k: v for k, v in p.retention.items() if k not in shown and v}
        if other:
            out.append(f"Retention's other work in \"{p.name}\": " + ", ".join(
                f"{k.replace('_', ' ')} {v:,}" for k, v in other.items()) + ".")
    for p in result.phases:
        if p.retention_transaction_statements:
            out.append(f"Statements seen in that transaction of \"{p.name}\" "
                       f"({p.retention_transaction_max_ms:.0f} ms): " + "; ".join(
                           f"`{' '.join(q.split())}`" for q in p.retention_transaction_statements)
                       + ".")
        if p.retention_lock_example:
            out.append(f"Worst wait on retention in \"{p.name}\": `{p.retention_lock_example}`.")
        if p.retention_waited_max_ms:
            out.append(f"Retention itself waited up to {p.retention_waited_max_ms:.0f} ms in "
                       f"\"{p.name}\".")
    others = max(result.phases, key=lambda p: p.other_lock_max_ms, default=None)
    if others is not None and others.other_lock_example:
        out.append(f"Longest other wait ({others.other_lock_max_ms:.0f} ms, \"{others.name}\"): "
                   f"`{others.other_lock_example}`.")
    if result.load_error or result.load_failed:
        out.append(f"Load: {result.load_failed} workflows did not finish"
                   + (f"; error: {result.load_error}" if result.load_error else "") + ".")
    return out

