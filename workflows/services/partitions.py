"""Monthly partitions of the journal and the activity executions (PostgreSQL; on other databases
the tables are plain and everything here does nothing). docs/decisions.md "Partitions".

The partition key is `instance_created_at`, the instance's `created_at` copied into each row, so
all rows of an instance live in the partition of the month it was created in (`<table>_pYYYY_MM`);
a DEFAULT partition (`<table>_default`) takes rows of a month that has no partition yet, so an
insert never fails.

- `partitions_create_ahead` (the beat task `weft.maintain_partitions`) creates this month's and
  the next `WEFT_PARTITION_MONTHS_AHEAD` months' partitions; rows the default partition holds for
  such a month move into it. Idempotent.
- `partitions_drop_retired` (each retention tick) detaches and drops a month's partitions once
  the month is over (plus a day of grace) and no instance created in it is left.
- `rows_left_for_drop` tells retention which retired instances' rows it need not delete row by
  row: those in a month that is over and has its own partitions; they go with the partition.

Locks: attaching takes SHARE UPDATE EXCLUSIVE on the parent (inserts go on) and ACCESS EXCLUSIVE
on the default partition; detaching and dropping take ACCESS EXCLUSIVE on the parents. Every
such statement runs with `lock_timeout = WEFT_PARTITION_LOCK_TIMEOUT_MS`, so a step waits at most
that long behind it; a timeout is logged and tried again on the next run.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import structlog
from django.conf import settings
from django.db import DatabaseError, connection, transaction

from workflows.models import ActivityExecution, JournalEntry, Tenant, WorkflowInstance

logger = structlog.get_logger("weft.partitions")

PARTITIONED = (JournalEntry, ActivityExecution)
KEY = "instance_created_at"
# A month's partitions are dropped (and its rows left to the drop) only this long after it ended:
# an instance created in its last second may commit a little later.
GRACE = timedelta(days=1)


def month_start(value: datetime) -> datetime:
    value = value.astimezone(UTC)
    return datetime(value.year, value.month, 1, tzinfo=UTC)


def month_next(month: datetime) -> datetime:
    return datetime(month.year + month.month // 12, month.month % 12 + 1, 1, tzinfo=UTC)


def partition_name(table: str, month: datetime) -> str:
    return f"{table}_p{month:%Y_%m}"


def _tables() -> list[str]:
    return [model._meta.db_table for model in PARTITIONED]


def partitioned_tables() -> list[str]:
    """The tables of `PARTITIONED` that are partitioned in this database (none on SQLite)."""
    if connection.vendor != "postgresql":
        return []
    with connection.cursor() as cursor:
        cursor.execute("""
            SELECT c.relname FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid
            WHERE c.relname = ANY(%s) AND c.relnamespace = current_schema()::regnamespace""",
                       [_tables()])
        found = {name for (name,) in cursor.fetchall()}
    return [table for table in _tables() if table in found]


def month_partitions(table: str) -> dict[datetime, str]:
    """The monthly partitions of `table` by their first day (the default one is not listed)."""
    pattern = re.compile(rf"^{re.escape(table)}_p(\d{{4}})_(\d{{2}})$")
    with connection.cursor() as cursor:
        cursor.execute("""
            SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
            WHERE i.inhparent = %s::regclass""", [table])
        names = [name for (name,) in cursor.fetchall()]
    months = {}
    for name in names:
        match = pattern.match(name)
        if match:
            months[datetime(int(match[1]), int(match[2]), 1, tzinfo=UTC)] = name
    return months


def _lock_timeout(cursor) -> None:
    cursor.execute(f"SET LOCAL lock_timeout = {int(settings.WEFT_PARTITION_LOCK_TIMEOUT_MS)}")


def _bounds(month: datetime) -> str:
    # DDL takes no parameters: both bounds are dates made here.
    return f"FROM ('{month.isoformat()}') TO ('{month_next(month).isoformat()}')"


def _partition_create(table: str, month: datetime) -> None:
    """Create `table`'s partition for `month` next to the table, move into it what the default
    partition holds for that month, and attach it (its indexes are built by the attach)."""
    name, default = partition_name(table, month), f"{table}_default"
    with transaction.atomic(), connection.cursor() as cursor:
        _lock_timeout(cursor)
        cursor.execute(f"LOCK TABLE {default} IN ACCESS EXCLUSIVE MODE")
        cursor.execute(f"CREATE TABLE {name} (LIKE {table} INCLUDING DEFAULTS "
                       "INCLUDING CONSTRAINTS INCLUDING STORAGE)")
        # Table names from the models and the month; the bounds are parameters.
        cursor.execute(f"""
            WITH moved AS (DELETE FROM {default} WHERE {KEY} >= %s AND {KEY} < %s RETURNING *)
            INSERT INTO {name} SELECT * FROM moved""", [month, month_next(month)])  # noqa: S608
        moved = cursor.rowcount
        cursor.execute(f"ALTER TABLE {table} ATTACH PARTITION {name} FOR VALUES {_bounds(month)}")
    logger.info("partition_created", table=table, partition=name, moved_from_default=moved)


def partitions_create_ahead(*, now: datetime | None = None,
                            months_ahead: int | None = None) -> list[str]:
    """Create the partitions of this month and the next `months_ahead` that are missing; returns
    their names. Safe to run any number of times, from any number of processes (a concurrent
    creation of the same partition fails on its name and is logged)."""
    now = now or datetime.now(tz=UTC)
    months_ahead = settings.WEFT_PARTITION_MONTHS_AHEAD if months_ahead is None else months_ahead
    wanted = [month_start(now)]
    for _ in range(months_ahead):
        wanted.append(month_next(wanted[-1]))
    created = []
    for table in partitioned_tables():
        existing = month_partitions(table)
        for month in wanted:
            if month in existing:
                continue
            try:
                _partition_create(table, month)
            except DatabaseError as exc:  # a lock timeout, or created meanwhile: next run
                logger.warning("partition_create_failed", table=table, month=f"{month:%Y-%m}",
                               error=str(exc).strip())
                continue
            created.append(partition_name(table, month))
    return created


def _instances_created_in(month: datetime) -> bool:
    # The tenants as a list: one descent of the `instance_recent (tenant, created_at)` index per
    # tenant, never a scan of the instances.
    return WorkflowInstance.objects.filter(
        tenant_id__in=list(Tenant.objects.values_list("pk", flat=True)),
        created_at__gte=month, created_at__lt=month_next(month)).exists()


def _over(month: datetime, now: datetime) -> bool:
    return month_next(month) + GRACE <= now


def partitions_drop_retired(*, now: datetime | None = None) -> list[str]:
    """Detach and drop the partitions of every month that is over and whose instances are all
    gone (retired by retention or deleted); returns the names dropped."""
    now = now or datetime.now(tz=UTC)
    tables = partitioned_tables()
    if not tables:
        return []
    by_table = {table: month_partitions(table) for table in tables}
    months = sorted({month for found in by_table.values() for month in found
                     if _over(month, now)})
    dropped: list[str] = []
    for month in months:
        if _instances_created_in(month):
            continue
        try:
            dropped += _partitions_drop(month, {table: found[month] for table, found
                                                in by_table.items() if month in found})
        except DatabaseError as exc:  # a lock timeout: next tick
            logger.warning("partition_drop_failed", month=f"{month:%Y-%m}",
                           error=str(exc).strip())
    return dropped


def _partitions_drop(month: datetime, partitions: dict[str, str]) -> list[str]:
    # The parents are locked only for the check and the detach (catalog changes); the drop of
    # the detached tables (their files) follows in a transaction of its own.
    with transaction.atomic(), connection.cursor() as cursor:
        _lock_timeout(cursor)
        # ONLY the parents: the other months' partitions stay readable.
        parents = ", ".join(f"ONLY {table}" for table in partitions)
        cursor.execute(f"LOCK TABLE {parents} IN ACCESS EXCLUSIVE MODE")
        # Checked again under the lock: nothing of that month is written meanwhile.
        if _instances_created_in(month):
            return []
        for table, name in partitions.items():
            cursor.execute(f"ALTER TABLE {table} DETACH PARTITION {name}")
    names = list(partitions.values())
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE {', '.join(names)}")
    logger.info("partitions_dropped", month=f"{month:%Y-%m}", partitions=names)
    return names


def rows_left_for_drop(created: dict, *, now: datetime | None = None) -> set:
    """Of `created` ({instance id: its created_at}), the instances whose journal and executions
    retention leaves in place: their month is over and has its own partition in every
    partitioned table (rows in the default partition are always deleted row by row)."""
    tables = partitioned_tables()
    if not tables or not created:
        return set()
    now = now or datetime.now(tz=UTC)
    months = set.intersection(*(set(month_partitions(table)) for table in tables))
    return {pk for pk, created_at in created.items()
            if month_start(created_at) in months and _over(month_start(created_at), now)}
