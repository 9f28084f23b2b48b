"""Seeding for `bench.scale`: months of a busy platform's rows, written with PostgreSQL COPY.

Instances, their journal, activity executions, steps, bookmarks and incidents, time-trigger
fires, retained events and audit entries of several tenants and definitions, with a spread of
statuses and dates over months. Rows are generated in this process (deterministic for a given
`--seed`) and streamed with psycopg's `COPY ... FROM STDIN`; then ANALYZE.

The columns come from each Django model's `_meta`, not from a list written here, so that the
schema can change under the benchmark (new columns, partitioned tables, other indexes):

- a column the generator fills is written;
- a column it does not fill gets the model field's default, NULL when nullable, the row's own
  time for a required date-time (e.g. a new `created_at`), or the database's default (auto
  keys, `db_default`); a required column with none of these stops the seeding with a message
  saying which (update the generator then);
- a table partitioned by range on a date-time gets monthly (else daily) partitions for the
  seeded months when none covers them, and a default partition as a last resort.

Foreign keys are not checked row by row while copying (`session_replication_role = replica`
when the role may set it): the generator writes consistent rows, and checking 3 million
deferred foreign keys would dominate the seeding time.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

DAY = timedelta(days=1)
# Long-running instances (loops): this share has a long journal.
LONG_SHARE = 0.01
LONG_JOURNAL = (300, 1500)
NORMAL_JOURNAL = (6, 30)
# Instances of the first tenant, the one whose lists are measured.
BIG_TENANT_SHARE = 0.7
# Retention days set on the seeded tenants: nothing expires until the bench lowers them.
KEEP_DAYS = 3650
# Columns the generator fills when the schema has them (written only then, without a word):
# the instance's creation time copied into its journal and executions (a partition key).
OPTIONAL = {"instance_created_at"}


@dataclass
class SeedPlan:
    instances: int = 100_000
    journal: int = 2_000_000
    tenants: int = 4
    definitions: int = 8
    months: int = 6
    audit: int = 20_000
    seed: int = 12345
    prefix: str = "scale"


@dataclass
class InstanceInfo:
    id: uuid.UUID
    tenant: int  # index into Seeded.tenants
    definition: int  # index into Seeded.definitions
    status: str
    created_at: datetime
    ended_at: datetime | None
    updated_at: datetime
    journal: int = 0


@dataclass
class DefinitionInfo:
    tenant: int
    definition_id: str
    versions: list[tuple[int, int]]  # (pk, version), oldest first
    activities: list[tuple[str, str]]  # (activity id, type) in the order they run


@dataclass
class Seeded:
    tenants: list[tuple[int, str]] = field(default_factory=list)  # (pk, slug)
    definitions: list[DefinitionInfo] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)  # model label -> rows written
    seconds: dict[str, float] = field(default_factory=dict)  # step -> seconds
    total_seconds: float = 0.0
    long_ids: list[uuid.UUID] = field(default_factory=list)  # big tenant, long journal
    normal_ids: list[uuid.UUID] = field(default_factory=list)  # big tenant, a sample
    foreign_keys_checked: bool = True
    partitions_created: list[str] = field(default_factory=list)

    @property
    def big_tenant(self) -> tuple[int, str]:
        return self.tenants[0]

    def definitions_of(self, tenant: int) -> list[DefinitionInfo]:
        return [d for d in self.definitions if d.tenant == tenant]


class SeedError(RuntimeError):
    pass


# ---- definitions (through the services, like an editor would) ------------------------------


def definition_body(definition_id: str, variant: int) -> dict:
    """A small valid definition: a greeting, a few task steps, a wait, an output."""
    adds = [{"id": f"add{k}", "type": "examples.add",
             "input": {"a": {"expr": "input.n" if k == 0 else f"outputs.add{k - 1}"}, "b": 1}}
            for k in range(1 + variant % 3)]
    return {
        "definition_id": definition_id, "name": definition_id.replace("-", " "),
        "description": f"Seeded by bench.scale (variant {variant}).",
        "inputs": [{"name": "n", "type": "integer", "default": 0}],
        "outputs": [{"name": "total", "type": "number"}],
        "root": {"type": "Sequence", "id": "main", "activities": [
            {"id": "hello", "type": "WriteLine", "text": {"template": "order {{ input.n }}"}},
            *adds,
            {"id": "wait", "type": "Delay", "duration": 60 + variant},
            {"id": "out", "type": "SetOutput", "output": "total",
             "value": {"expr": f"outputs.add{len(adds) - 1}"}},
        ]},
    }


def _activities(body: dict) -> list[tuple[str, str]]:
    return [(a["id"], a["type"]) for a in body["root"]["activities"]]


def tenants_and_definitions(plan: SeedPlan, rng: random.Random, log) -> Seeded:
    from django.contrib.auth import get_user_model

    from workflows.models import Tenant
    from workflows.services.definitions import (
        definition_create,
        definition_publish,
        definition_save_draft,
    )
    from workflows.services.tenancy import tenant_member_ensure

    seeded = Seeded()
    user_model = get_user_model()
    admin = user_model.objects.filter(username=f"{plan.prefix}-admin").first()
    if admin is None:
        admin = user_model.objects.create_superuser(f"{plan.prefix}-admin", "", None)
    for t in range(plan.tenants):
        slug = f"{plan.prefix}-t{t}"
        tenant = tenant_member_ensure(tenant_slug=slug, username=f"{plan.prefix}-viewer{t}",
                                      role="viewer").tenant
        Tenant.objects.filter(pk=tenant.pk).update(retention_finished_days=KEEP_DAYS,
                                                   retention_faulted_days=KEEP_DAYS)
        seeded.tenants.append((tenant.pk, slug))
        for d in range(plan.definitions):
            definition_id = f"order-flow-{d}"
            body = definition_body(definition_id, d)
            versions = []
            record = definition_create(tenant=tenant, user=admin, body=body)
            for v in range(1 + (d + t) % 3):  # 1 to 3 published versions
                if v:
                    body = {**body, "description": f"{body['description']} Revision {v}."}
                    record = definition_save_draft(tenant=tenant, user=admin,
                                                   definition_id=definition_id, body=body)
                record = definition_publish(tenant=tenant, user=admin,
                                            definition_id=definition_id)
                versions.append((record.pk, record.version))
            seeded.definitions.append(DefinitionInfo(tenant=t, definition_id=definition_id,
                                                     versions=versions,
                                                     activities=_activities(body)))
    log(f"{plan.tenants} tenants, {len(seeded.definitions)} definitions")
    return seeded


# ---- the generic COPY writer -----------------------------------------------------------------


def _is_json(f) -> bool:
    from django.db import models

    return isinstance(f, models.JSONField)


def _dump(value):
    return json.dumps(value, separators=(",", ":"), default=str)


class Table:
    """How generated rows (tuples in the order of `provided`, attnames) become COPY rows for
    `model`: every other column is filled as the module docstring says. JSON columns are
    given as JSON text (or None)."""

    def __init__(self, model, provided: list[str], *, time_column: str | None = None) -> None:
        from django.db import models
        from django.db.models.fields import NOT_PROVIDED

        self.model = model
        self.table = model._meta.db_table
        database_fills = _columns_with_database_default(self.table)
        fields = [f for f in model._meta.concrete_fields if not getattr(f, "generated", False)]
        by_attname = {f.attname: f for f in fields}
        unknown = [name for name in provided if name not in by_attname and name not in OPTIONAL]
        if unknown:
            # A column the generator fills is gone (renamed, removed): left out, said once.
            print(f"[bench.scale] {model.__name__}: no column(s) {unknown}; not written")
        self.keep = [i for i, name in enumerate(provided) if name in by_attname]
        self.columns = [by_attname[provided[i]].column for i in self.keep]
        json_positions = {n for n, i in enumerate(self.keep) if _is_json(by_attname[provided[i]])}
        self.json_positions = sorted(json_positions)
        time_index = provided.index(time_column) if time_column in provided else None
        extras: list[Callable[[tuple], object]] = []
        constant = True
        for f in fields:
            if f.attname in provided:
                continue
            if (isinstance(f, models.AutoField) or f.db_default is not NOT_PROVIDED
                    or f.column in database_fills):
                continue  # the database fills it (a sequence, an identity, a default)
            self.columns.append(f.column)
            if f.has_default():
                default = f.default
                if callable(default):
                    constant = False
                    extras.append(lambda row, f=f: _field_value(f, f.get_default()))
                else:
                    value = _field_value(f, f.get_default())
                    extras.append(lambda row, v=value: v)
            elif f.null:
                extras.append(lambda row: None)
            elif isinstance(f, models.DateTimeField) and time_index is not None:
                constant = False
                extras.append(lambda row, i=time_index: row[i])
            elif isinstance(f, models.DateField) and time_index is not None:  # a day column
                constant = False
                extras.append(lambda row, i=time_index: row[i].date())
            elif isinstance(f, models.DateTimeField):
                now = _now()
                extras.append(lambda row, v=now: v)
            else:
                raise SeedError(
                    f"{model.__name__}.{f.name} ({self.table}.{f.column}) is required and "
                    "bench/scale_seed.py does not fill it: add it to the generator")
        self.extras = extras
        self.constant_extras = tuple(e(()) for e in extras) if constant else None

    def rows(self, generated: Iterable[tuple]) -> Iterator[tuple]:
        keep, json_positions, extras = self.keep, self.json_positions, self.extras
        constant = self.constant_extras
        for row in generated:
            values = [row[i] for i in keep]
            for p in json_positions:
                v = values[p]
                if v is not None and not isinstance(v, str):
                    values[p] = _dump(v)
            if constant is not None:
                yield (*values, *constant)
            else:
                yield (*values, *(e(row) for e in extras))


def _columns_with_database_default(table: str) -> set[str]:
    """Columns the database fills by itself: a default, an identity, a generated column."""
    with _raw_connection().cursor() as cursor:
        cursor.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = %s "
            "AND table_schema = current_schema() AND (column_default IS NOT NULL "
            "OR is_identity = 'YES' OR is_generated = 'ALWAYS')", (table,))
        return {row[0] for row in cursor.fetchall()}


def _field_value(f, value):
    if value is None:
        return None
    if _is_json(f):
        return _dump(value)
    return value


def _now() -> datetime:
    from django.utils import timezone

    return timezone.now()


def _raw_connection():
    from django.db import connection

    connection.ensure_connection()
    return connection.connection


def _partition_key(cursor, table: str) -> str | None:
    """The date-time column `table` is range-partitioned on, or None."""
    cursor.execute(
        "SELECT pg_get_partkeydef(c.oid) FROM pg_class c "
        "WHERE c.relname = %s AND c.relkind = 'p' AND pg_table_is_visible(c.oid)", (table,))
    found = cursor.fetchone()
    if not found or not found[0].upper().startswith("RANGE"):
        return None
    inner = found[0][found[0].index("(") + 1:found[0].rindex(")")]
    if "," in inner or "(" in inner:
        return None  # several columns or an expression: left to the default partition
    column = inner.strip().strip('"')
    cursor.execute("SELECT data_type FROM information_schema.columns "
                   "WHERE table_name = %s AND column_name = %s", (table, column))
    kind = cursor.fetchone()
    return column if kind and kind[0].startswith(("timestamp", "date")) else None


def _try(cursor, statement) -> bool:
    import psycopg

    cursor.execute("SAVEPOINT scale_partition")
    try:
        cursor.execute(statement)
    except psycopg.Error:
        cursor.execute("ROLLBACK TO SAVEPOINT scale_partition")
        return False
    cursor.execute("RELEASE SAVEPOINT scale_partition")
    return True


def ensure_partitions(table: str, first: datetime, last: datetime) -> list[str]:
    """Partitions of a range-partitioned `table` for every day in [first, last] that none
    covers: a month at a time, else a day at a time. Returns the partitions created."""
    from django.db import transaction
    from psycopg import sql

    created = []
    with transaction.atomic(), _raw_connection().cursor() as cursor:
        column = _partition_key(cursor, table)
        if column is None:
            return created
        month = first.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        while month <= last:
            following = (month + timedelta(days=32)).replace(day=1)
            name = f"{table}_scale_{month:%Y%m}"
            statement = sql.SQL("CREATE TABLE {} PARTITION OF {} FOR VALUES FROM ({}) TO ({})"
                                ).format(sql.Identifier(name), sql.Identifier(table),
                                         sql.Literal(month), sql.Literal(following))
            if _try(cursor, statement):
                created.append(name)
            else:  # something covers part of the month: fill the days left
                day = month
                while day < following:
                    name = f"{table}_scale_{day:%Y%m%d}"
                    statement = sql.SQL(
                        "CREATE TABLE {} PARTITION OF {} FOR VALUES FROM ({}) TO ({})").format(
                        sql.Identifier(name), sql.Identifier(table), sql.Literal(day),
                        sql.Literal(day + DAY))
                    if _try(cursor, statement):
                        created.append(name)
                    day += DAY
            month = following
    return created


def project_partitions(first: datetime, last: datetime) -> list[str]:
    """The partitions the platform's own scheduled job would have created month after month
    over the seeded months, when the platform has one (`partitions_create_ahead` in
    `workflows.services.partitions`); `ensure_partitions` covers whatever is left."""
    import importlib

    try:
        partitions = importlib.import_module("workflows.services.partitions")
        create = partitions.partitions_create_ahead
    except (ImportError, AttributeError):
        return []
    months = (last.year - first.year) * 12 + last.month - first.month
    try:
        return list(create(now=first, months_ahead=months) or [])
    except TypeError:  # another signature: left to ensure_partitions
        return []


def copy_rows(table: Table, generate: Callable[[], Iterable[tuple]]) -> int:
    """COPY the rows `generate()` yields into the table, in one transaction; how many."""
    import psycopg
    from django.db import transaction
    from psycopg import sql

    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table.table), sql.SQL(", ").join(map(sql.Identifier, table.columns)))
    count = 0
    for attempt in (1, 2):
        try:
            with transaction.atomic(), _raw_connection().cursor() as cursor, \
                    cursor.copy(statement) as copy:
                count = 0
                for row in table.rows(generate()):
                    copy.write_row(row)
                    count += 1
            return count
        except psycopg.errors.CheckViolation as exc:
            # "no partition of relation ... found for row": a default partition, once.
            if attempt == 2 or "partition" not in str(exc):
                raise
            with transaction.atomic(), _raw_connection().cursor() as cursor:
                cursor.execute(sql.SQL("CREATE TABLE {} PARTITION OF {} DEFAULT").format(
                    sql.Identifier(f"{table.table}_scale_default"),
                    sql.Identifier(table.table)))
    return count


# ---- generation ------------------------------------------------------------------------------


STATUS_OLD = (("finished", 0.86), ("faulted", 0.06), ("cancelled", 0.04), ("suspended", 0.04))
STATUS_RECENT = (("finished", 0.62), ("faulted", 0.05), ("cancelled", 0.03), ("suspended", 0.15),
                 ("running", 0.09), ("pending", 0.06))
TERMINAL = ("finished", "faulted", "cancelled")
ACTIVE = ("pending", "running", "suspended")


def _pick(rng: random.Random, table) -> str:
    u, total = rng.random(), 0.0
    for value, weight in table:
        total += weight
        if u < total:
            return value
    return table[-1][0]


def _journal_counts(rng: random.Random, count: int, target: int) -> list[int]:
    raw = [rng.randint(*LONG_JOURNAL) if rng.random() < LONG_SHARE else rng.randint(
        *NORMAL_JOURNAL) for _ in range(count)]
    factor = target / max(1, sum(raw))
    counts = [max(2, round(c * factor)) for c in raw]
    left = target - sum(counts)
    while left:
        i = rng.randrange(count)
        if left > 0:
            counts[i] += 1
            left -= 1
        elif counts[i] > 2:
            counts[i] -= 1
            left += 1
    return counts


def generate_instances(plan: SeedPlan, seeded: Seeded, rng: random.Random,
                       now: datetime) -> list[InstanceInfo]:
    span = timedelta(days=30 * plan.months)
    weights = [BIG_TENANT_SHARE] + [(1 - BIG_TENANT_SHARE) / max(1, plan.tenants - 1)] * (
        plan.tenants - 1) if plan.tenants > 1 else [1.0]
    per_tenant = {t: seeded.definitions_of(t) for t in range(plan.tenants)}
    index = {id(d): n for n, d in enumerate(seeded.definitions)}
    # Newer months busier than older ones (a platform that grows): density ~ age^-0.3.
    ages = sorted((span * (rng.random() ** 1.3) for _ in range(plan.instances)), reverse=True)
    counts = _journal_counts(rng, plan.instances, plan.journal)
    out = []
    for n, age in enumerate(ages):
        created = now - age
        t = rng.choices(range(plan.tenants), weights)[0]
        # A few definitions carry most of the traffic.
        definitions = per_tenant[t]
        d = definitions[min(len(definitions) - 1, int(rng.expovariate(0.5)))]
        status = _pick(rng, STATUS_RECENT if age < 2 * DAY else STATUS_OLD)
        ended = None
        if status in TERMINAL:
            ended = min(now, created + timedelta(seconds=rng.expovariate(1 / 600)))
        updated = ended or min(now, created + timedelta(seconds=rng.uniform(0, 120)))
        out.append(InstanceInfo(id=uuid.UUID(int=rng.getrandbits(128), version=4), tenant=t,
                                definition=index[id(d)], status=status, created_at=created,
                                ended_at=ended, updated_at=updated, journal=counts[n]))
    return out


def _state(info: InstanceInfo, d: DefinitionInfo, version: int) -> str:
    frames = {"w1": {"id": "w1", "tag": None, "node": "main", "input": {}, "scope": None,
                     "parent": None, "result": None, "status": "running", "callback": None,
                     "started_at": info.created_at.isoformat()}}
    if info.status == "suspended":
        frames["w5"] = {"id": "w5", "key": "w5", "tag": 3, "node": "wait", "input": {
            "until": None, "duration": 60}, "scope": None, "parent": "w1", "result": 3,
            "status": "waiting", "callback": "on_child",
            "started_at": info.updated_at.isoformat()}
    return _dump({
        "format": 1, "instance_id": str(info.id), "definition_id": d.definition_id,
        "version": version, "correlation_id": None, "status": info.status,
        "created_at": info.created_at.isoformat(), "started": True, "input": {"n": 1},
        "variables": {}, "output": {}, "payload": None, "trigger": None, "queue": [],
        "tasks": {}, "incidents": [], "faulted_frame": None, "next_id": 6,
        "journal_seq": info.journal, "frames": frames if info.status in ACTIVE else {},
        "bookmarks": {}, "activity_outputs": {"hello": "order 1", "add0": 2},
    })


def instance_rows(plan: SeedPlan, seeded: Seeded, infos: list[InstanceInfo],
                  rng: random.Random) -> tuple[list[str], Iterator[tuple]]:
    provided = ["id", "tenant_id", "definition_version_id", "definition_id", "version", "status",
                "correlation_id", "input", "output", "variables", "state", "parent_id",
                "parent_bookmark_key", "created_at", "updated_at", "finished_at", "held",
                "held_by", "held_at", "http_response", "trace_context"]

    def rows():
        recent: dict[int, list[uuid.UUID]] = {}
        for n, info in enumerate(infos):
            d = seeded.definitions[info.definition]
            pk, version = d.versions[-1] if rng.random() < 0.8 else rng.choice(d.versions)
            tenant_pk = seeded.tenants[info.tenant][0]
            siblings = recent.setdefault(info.tenant, [])
            parent = rng.choice(siblings) if siblings and rng.random() < 0.01 else None
            siblings.append(info.id)
            if len(siblings) > 500:
                del siblings[:250]
            held = info.status == "suspended" and rng.random() < 0.05
            output = f'{{"total":{n % 1000 + 2}}}' if info.status == "finished" else "{}"
            yield (info.id, tenant_pk, pk, d.definition_id, version, info.status,
                   f"order-{n}" if n % 2 else None, f'{{"n":{n % 1000},"customer":"c{n % 97}"}}',
                   output, f'{{"attempts":{n % 3}}}', _state(info, d, version), parent, None,
                   info.created_at, info.updated_at, info.ended_at, held,
                   "ops (admin)" if held else "", info.updated_at if held else None, None, None)

    return provided, rows()


def _journal_template(d: DefinitionInfo) -> list[tuple]:
    template = []
    for activity_id, activity_type in d.activities:
        template.append(("started", activity_id, activity_type, "", None))
        if activity_type == "WriteLine":
            template.append(("log", activity_id, activity_type, "order 1", '{"level":"info"}'))
        if activity_type == "Delay":
            template.append(("bookmarked", activity_id, activity_type, "Delay",
                             '{"key":"w5","kind":"timer"}'))
            template.append(("resumed", activity_id, activity_type, "", None))
        template.append(("completed", activity_id, activity_type, "", None))
    return template


END_EVENTS = {
    "finished": ("completed", "main", "Sequence", "", None),
    "faulted": ("faulted", "add0", "examples.add", "Activity add0 failed: connection reset",
                '{"code":"activity_failed"}'),
    "cancelled": ("cancelled", "main", "Sequence", "Cancelled by ops", None),
    "suspended": ("bookmarked", "wait", "Delay", "Delay", '{"key":"w5","kind":"timer"}'),
}


def journal_rows(seeded: Seeded, infos: list[InstanceInfo]) -> tuple[list[str], Iterator[tuple]]:
    provided = ["instance_id", "sequence", "event", "activity_id", "activity_type", "message",
                "data", "timestamp", "instance_created_at"]
    templates = [_journal_template(d) for d in seeded.definitions]

    def rows():
        for info in infos:
            template, k = templates[info.definition], info.journal
            start = info.created_at
            step = (info.updated_at - start) / max(1, k - 1)
            yield (info.id, 1, "workflow_started", "", "", "", '{"trigger":null}', start, start)
            size = len(template)
            for j in range(2, k):
                e = template[(j - 2) % size]
                yield (info.id, j, e[0], e[1], e[2], e[3], e[4], start + step * (j - 1), start)
            e = END_EVENTS.get(info.status) or template[(k - 2) % size]
            yield (info.id, k, e[0], e[1], e[2], e[3], e[4], info.updated_at, start)

    return provided, rows()


def execution_rows(seeded: Seeded, infos: list[InstanceInfo]) -> tuple[list[str], Iterator]:
    provided = ["instance_id", "key", "activity_id", "activity_type", "status", "attempt",
                "input", "output", "outcome", "error", "traceback", "started_at", "finished_at",
                "instance_created_at"]
    io = {"WriteLine": ('{"text":"order 1","level":"info"}', '"order 1"'),
          "examples.add": ('{"input":{"a":1,"b":1}}', "2"),
          "Delay": ('{"until":null,"duration":60}', None),
          "SetOutput": ('{"output":"total","value":2}', "2")}
    last_status = {"faulted": "faulted", "cancelled": "cancelled", "suspended": "waiting",
                   "running": "running", "pending": "running"}

    def rows():
        for info in infos:
            activities = seeded.definitions[info.definition].activities
            count = max(1, info.journal // 3)
            start, step = info.created_at, (info.updated_at - info.created_at) / (count + 1)
            for n in range(1, count + 1):
                activity_id, activity_type = activities[(n - 1) % len(activities)]
                given, produced = io.get(activity_type, ("{}", None))
                status, outcome, error = "completed", "done", None
                if n == count and info.status in last_status:
                    status, outcome = last_status[info.status], None
                    if status == "faulted":
                        error = '{"code":"activity_failed","message":"connection reset"}'
                began = start + step * n
                yield (info.id, f"w{n}", activity_id, activity_type, status, 1, given,
                       produced if status == "completed" else None, outcome, error, "",
                       began, began + step / 2 if status in ("completed", "faulted") else None,
                       info.created_at)

    return provided, rows()


def step_rows(seeded: Seeded, infos: list[InstanceInfo], now: datetime,
              rng: random.Random) -> tuple[list[str], Iterator[tuple]]:
    """Done steps of the last week (retention keeps 7 days of them), and the pending and
    running steps of active instances."""
    provided = ["id", "tenant_id", "instance_id", "kind", "status", "queue", "task_key",
                "payload", "attempt", "run_after", "published_at", "sent_at", "publish_count",
                "deliveries", "claimed_by", "lease_until", "started_at", "finished_at", "error",
                "created_at"]
    week = now - 7 * DAY

    def rows():
        for info in infos:
            if info.status not in ("pending", "running") and info.updated_at < week:
                continue
            tenant_pk = seeded.tenants[info.tenant][0]
            kinds = ["run", "task", "task"] + (["resume"] if info.status == "suspended" else [])
            at = info.created_at
            for n, kind in enumerate(kinds):
                last = n == len(kinds) - 1
                status = "done"
                if last and info.status == "pending":
                    status = "pending"
                elif last and info.status == "running":
                    status = "running"
                done = status == "done"
                yield (uuid.UUID(int=rng.getrandbits(128), version=4), tenant_pk, info.id, kind,
                       status, "default", f"w{n + 2}" if kind == "task" else None,
                       f'{{"instance_id":"{info.id}"}}', 1, at, at, at, 1,
                       0 if status == "pending" else 1,
                       None if status == "pending" else "bench@scale",
                       at + timedelta(minutes=5) if status == "running" else None,
                       None if status == "pending" else at,
                       at + timedelta(milliseconds=30) if done else None, None, at)
                at += timedelta(milliseconds=40)

    return provided, rows()


def bookmark_rows(seeded: Seeded, infos: list[InstanceInfo], now: datetime,
                  rng: random.Random) -> tuple[list[str], Iterator[tuple]]:
    provided = ["id", "tenant_id", "instance_id", "key", "activity_id", "activity_type", "name",
                "hash", "correlation_id", "data", "due_at", "created_at"]

    def rows():
        for n, info in enumerate(infos):
            if info.status != "suspended":
                continue
            tenant_pk = seeded.tenants[info.tenant][0]
            if n % 2:
                name, correlation, due = "Delay", None, now + timedelta(hours=rng.uniform(1, 72))
                data, kind = '{"kind":"timer"}', "Delay"
            else:
                name, correlation, due = "order.paid", f"order-{n}", None
                data, kind = '{"kind":"event"}', "Event"
            digest = hashlib.sha256(f"{name}\x00{correlation or ''}".encode()).hexdigest()
            yield (uuid.UUID(int=rng.getrandbits(128), version=4), tenant_pk, info.id, "w5",
                   "wait", kind, name, digest, correlation, data, due, info.updated_at)

    return provided, rows()


def incident_rows(infos: list[InstanceInfo]) -> tuple[list[str], Iterator[tuple]]:
    provided = ["instance_id", "activity_id", "activity_type", "code", "message", "data",
                "created_at"]

    def rows():
        for info in infos:
            if info.status == "faulted":
                yield (info.id, "add0", "examples.add", "activity_failed",
                       "Activity add0 failed: connection reset", '{"attempts":3}',
                       info.updated_at)

    return provided, rows()


def trigger_rows(seeded: Seeded) -> tuple[list[str], list[tuple]]:
    """One Cron trigger per tenant (no beat schedule: nothing fires during the bench)."""
    provided = ["tenant_id", "definition_version_id", "definition_id", "activity_id", "type",
                "key", "properties", "periodic_task_id", "created_at"]
    rows = []
    for t, (tenant_pk, _) in enumerate(seeded.tenants):
        d = seeded.definitions_of(t)[0]
        rows.append((tenant_pk, d.versions[-1][0], d.definition_id, "every-10-minutes", "Cron",
                     "", '{"cron":"*/10 * * * *"}', None, _now()))
    return provided, rows


def fire_rows(trigger_pks: list[int], now: datetime) -> tuple[list[str], Iterator[tuple]]:
    """Every 10 minutes for 30 days (fire retention keeps 30 days)."""
    provided = ["trigger_id", "scheduled_for", "instance_id", "outcome", "fired_at"]
    first = (now - 30 * DAY).replace(second=0, microsecond=0)
    first -= timedelta(minutes=first.minute % 10)

    def rows():
        for trigger in trigger_pks:
            slot = first
            while slot < now:
                yield (trigger, slot, None, "started", slot + timedelta(milliseconds=120))
                slot += timedelta(minutes=10)

    return provided, rows()


def retained_event_rows(seeded: Seeded, now: datetime) -> tuple[list[str], Iterator[tuple]]:
    provided = ["tenant_id", "name", "correlation_id", "payload", "expires_at", "created_at"]

    def rows():
        for n in range(200):
            tenant_pk = seeded.tenants[n % len(seeded.tenants)][0]
            at = now - timedelta(minutes=n)
            yield (tenant_pk, "order.paid", f"early-{n}", '{"amount":12}',
                   at + timedelta(hours=1), at)

    return provided, rows()


def audit_rows(plan: SeedPlan, seeded: Seeded, now: datetime,
               rng: random.Random) -> tuple[list[str], Iterator[tuple]]:
    provided = ["at", "tenant_id", "tenant_slug", "actor", "actor_user_id", "actor_token_id",
                "action", "target_type", "target_id", "summary", "details", "request_id",
                "client_address", "via"]
    actions = (("instance.cancel", "instance"), ("definition.publish", "definition"),
               ("event.publish", "event"), ("instance.retry", "instance"),
               ("secret.update", "secret"))
    span = timedelta(days=30 * plan.months)
    times = sorted(now - span * rng.random() for _ in range(plan.audit))

    def rows():
        for n, at in enumerate(times):
            tenant_pk, slug = seeded.tenants[n % len(seeded.tenants)]
            action, target = actions[n % len(actions)]
            yield (at, tenant_pk, slug, f"user{n % 13}", None, None, action, target,
                   f"{target}-{n}", f"{action} by user{n % 13}", '{"via":"bench"}',
                   uuid.UUID(int=rng.getrandbits(128)).hex, "10.0.0.1",
                   ("api", "admin", "cli")[n % 3])

    return provided, rows()


# ---- the whole seeding -----------------------------------------------------------------------


def _replication_role(value: str) -> bool:
    import psycopg

    with _raw_connection().cursor() as cursor:
        try:
            cursor.execute(f"SET session_replication_role = {value}")
        except psycopg.Error:
            return False
    return True


def seed(plan: SeedPlan, *, log: Callable[[str], None] = print) -> Seeded:
    """Seed the current database (Django's default connection) as `plan` says."""
    from django.db import connection

    from workflows.models import (
        ActivityExecution,
        AuditEntry,
        Bookmark,
        Incident,
        JournalEntry,
        RetainedEvent,
        Step,
        TriggerFire,
        WorkflowInstance,
        WorkflowTrigger,
    )

    began = time.perf_counter()
    rng = random.Random(plan.seed)
    now = _now()
    seeded = tenants_and_definitions(plan, rng, log)
    seeded.seconds["tenants, definitions (services)"] = time.perf_counter() - began

    mark = time.perf_counter()
    infos = generate_instances(plan, seeded, rng, now)
    seeded.seconds["generate instance plan"] = time.perf_counter() - mark
    first = min(i.created_at for i in infos) - DAY
    last = now + 8 * DAY

    def write(model, make, time_column=None) -> None:
        """`make()` gives (the attnames the rows fill, the rows)."""
        start = time.perf_counter()
        seeded.partitions_created += ensure_partitions(model._meta.db_table, first, last)
        table = Table(model, make()[0], time_column=time_column)
        count = copy_rows(table, lambda: make()[1])
        seeded.rows[model._meta.label] = seeded.rows.get(model._meta.label, 0) + count
        seeded.seconds[f"COPY {model.__name__}"] = time.perf_counter() - start
        log(f"{model.__name__}: {count:,} rows in {time.perf_counter() - start:.1f} s")

    mark = time.perf_counter()
    seeded.partitions_created += project_partitions(first, last)
    if seeded.partitions_created:
        seeded.seconds["partitions (the platform's own job)"] = time.perf_counter() - mark
    seeded.foreign_keys_checked = not _replication_role("replica")
    try:
        write(WorkflowInstance, lambda: instance_rows(plan, seeded, infos, rng), "created_at")
        write(JournalEntry, lambda: journal_rows(seeded, infos), "timestamp")
        write(ActivityExecution, lambda: execution_rows(seeded, infos), "started_at")
        write(Step, lambda: step_rows(seeded, infos, now, rng), "created_at")
        write(Bookmark, lambda: bookmark_rows(seeded, infos, now, rng), "created_at")
        write(Incident, lambda: incident_rows(infos), "created_at")
        write(WorkflowTrigger, lambda: trigger_rows(seeded), "created_at")
        trigger_pks = list(WorkflowTrigger.objects.filter(
            tenant_id__in=[pk for pk, _ in seeded.tenants], periodic_task__isnull=True,
            activity_id="every-10-minutes").values_list("pk", flat=True))
        write(TriggerFire, lambda: fire_rows(trigger_pks, now), "fired_at")
        write(RetainedEvent, lambda: retained_event_rows(seeded, now), "created_at")
        write(AuditEntry, lambda: audit_rows(plan, seeded, now, rng), "at")
    finally:
        if not seeded.foreign_keys_checked:
            _replication_role("DEFAULT")
    mark = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    seeded.seconds["ANALYZE"] = time.perf_counter() - mark
    seeded.total_seconds = time.perf_counter() - began

    big = 0
    long_ids = [i.id for i in infos if i.tenant == big and i.journal >= LONG_JOURNAL[0] // 2]
    normal = [i.id for i in infos if i.tenant == big and i.journal < LONG_JOURNAL[0] // 2]
    seeded.long_ids = long_ids[:200]
    seeded.normal_ids = rng.sample(normal, min(len(normal), 2000))
    return seeded


def sizes(models: Iterable) -> dict[str, tuple[int, int]]:
    """{table: (estimated rows, bytes with indexes and TOAST)} after ANALYZE, partitions
    included."""
    from django.db import connection

    out = {}
    with connection.cursor() as cursor:
        for model in models:
            table = model._meta.db_table
            # A partitioned table's rows are its leaves'; a plain table is its own tree.
            cursor.execute(
                "WITH tree AS (SELECT relid, isleaf FROM pg_partition_tree(%s::regclass) "
                "  UNION ALL SELECT %s::regclass, true "
                "  WHERE NOT EXISTS (SELECT FROM pg_partition_tree(%s::regclass))) "
                "SELECT coalesce(sum(c.reltuples) FILTER (WHERE t.isleaf), 0)::bigint, "
                "coalesce(sum(pg_total_relation_size(t.relid)), 0)::bigint "
                "FROM tree t JOIN pg_class c ON c.oid = t.relid", (table, table, table))
            rows, size = cursor.fetchone()
            out[table] = (max(0, int(rows)), int(size))
    return out


def human_bytes(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"

