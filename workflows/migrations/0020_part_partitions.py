"""Partitions (issue 12): the journal and the activity executions, partitioned by month of the
instance's creation time on PostgreSQL (docs/decisions.md "Partitions").

The model state changes the same way everywhere: a new column `instance_created_at` (the
partition key: the instance's `created_at`, so all rows of an instance share one partition), the
unique keys extended by it (PostgreSQL asks a partitioned table's unique keys to contain the
partition key; the column depends on the instance, so the keys mean what they meant), and the
foreign key to the instance no longer enforced by the database (retention drops whole partitions
after the instances they belong to are gone).

SQLite (and any other database) gets exactly those operations. PostgreSQL gets instead a
conversion: a partitioned table is built next to the old one with the same columns, CHECK
constraints, indexes and names (read from the catalog, so indexes another migration added before
this one are kept), one partition per month from the oldest instance's month to three months
ahead, and a DEFAULT partition; the rows are copied (with their instance's `created_at`), the old
table dropped and the new one renamed. The database's primary key is `(id, instance_created_at)`;
Django's model keeps `id` as its primary key (ids stay unique: one identity sequence for the
whole table, carried over from the old table).

Time: the copy is one INSERT ... SELECT in the migration's transaction, with the indexes built
after it; 20-22 s per million rows on the 2-core development machine under load
(`python -m bench.partitions`, docs/decisions.md). The tables are locked meanwhile: an install with many millions of rows runs
it in a maintenance window, or follows the online procedure in docs/decisions.md.

Reversible: the reverse builds plain tables again, without the rows of instances already deleted
(the rows retention leaves for a partition drop), and enforces the foreign key again.
"""

from datetime import UTC, datetime

import django.db.models.deletion
from django.db import migrations, models

INSTANCE_TABLE = "workflows_workflowinstance"
KEY = "instance_created_at"
MONTHS_AHEAD = 3
# The foreign keys 0001 created (restored by the reverse).
TABLES = {
    "workflows_journalentry": "workflows_journalent_instance_id_471ebe85_fk_workflows",
    "workflows_activityexecution": "workflows_activityex_instance_id_abd3a78d_fk_workflows",
}
HELP = "The instance's created_at: the partition key (monthly, on PostgreSQL)."


class OnPostgreSQL(migrations.SeparateDatabaseAndState):
    """`operations` change the state everywhere and the schema everywhere but PostgreSQL, where
    `postgresql` runs instead."""

    def __init__(self, operations, postgresql):
        super().__init__(state_operations=operations, database_operations=operations)
        self.postgresql = postgresql

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            self.postgresql.database_forwards(app_label, schema_editor, from_state, to_state)
        else:
            super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            self.postgresql.database_backwards(app_label, schema_editor, from_state, to_state)
        else:
            super().database_backwards(app_label, schema_editor, from_state, to_state)


def _month(value: datetime) -> datetime:
    return datetime(value.year, value.month, 1, tzinfo=UTC)


def _next_month(value: datetime) -> datetime:
    return datetime(value.year + value.month // 12, value.month % 12 + 1, 1, tzinfo=UTC)


def _one(cursor, sql, params=()):
    cursor.execute(sql, params)
    return cursor.fetchone()


def _all(cursor, sql, params=()):
    cursor.execute(sql, params)
    return cursor.fetchall()


def _columns(cursor, table: str) -> list[str]:
    return [name for (name,) in _all(cursor, """
        SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0
        AND NOT attisdropped ORDER BY attnum""", [table])]


def _constraints(cursor, table: str) -> list[tuple[str, str, str]]:
    return _all(cursor, """
        SELECT conname, contype, pg_get_constraintdef(oid) FROM pg_constraint
        WHERE conrelid = %s::regclass ORDER BY conname""", [table])


def _plain_indexes(cursor, table: str) -> list[str]:
    """CREATE INDEX statements of the indexes that no constraint owns."""
    return [sql for (sql,) in _all(cursor, """
        SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i WHERE i.indrelid = %s::regclass
        AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conrelid = i.indrelid
                        AND c.conindid = i.indexrelid)
        ORDER BY i.indexrelid::regclass::text""", [table])]


def _sequence_position(cursor, table: str):
    (sequence,) = _one(cursor, "SELECT pg_get_serial_sequence(%s, 'id')", [table])
    return _one(cursor, f"SELECT last_value, is_called FROM {sequence}")


def _identity_from(cursor, table: str, position) -> None:
    cursor.execute(f"ALTER TABLE {table} ALTER COLUMN id ADD GENERATED BY DEFAULT AS IDENTITY")
    (sequence,) = _one(cursor, "SELECT pg_get_serial_sequence(%s, 'id')", [table])
    cursor.execute("SELECT setval(%s, %s, %s)", [sequence, *position])


def partition(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        (oldest,) = _one(cursor, f"SELECT min(created_at) FROM {INSTANCE_TABLE}")
        now = datetime.now(tz=UTC)
        month, last = _month(min(oldest or now, now)), _month(now)
        for _ in range(MONTHS_AHEAD):
            last = _next_month(last)
        months = []
        while month <= last:
            months.append(month)
            month = _next_month(month)
        for table in TABLES:
            _partition_table(cursor, table, months)


def _partition_table(cursor, table: str, months: list[datetime]) -> None:
    new = f"{table}__partitioned"
    columns = _columns(cursor, table)
    constraints = _constraints(cursor, table)
    indexes = _plain_indexes(cursor, table)
    position = _sequence_position(cursor, table)
    cursor.execute(f"""
        CREATE TABLE {new} (LIKE {table} INCLUDING DEFAULTS INCLUDING CONSTRAINTS
                            INCLUDING STORAGE INCLUDING COMMENTS,
                            {KEY} timestamp with time zone NOT NULL)
        PARTITION BY RANGE ({KEY})""")
    for month in months:
        # DDL takes no parameters: the bounds are dates this function made.
        cursor.execute(
            f"CREATE TABLE {table}_p{month:%Y_%m} PARTITION OF {new} "
            f"FOR VALUES FROM ('{month.isoformat()}') TO ('{_next_month(month).isoformat()}')")
    cursor.execute(f"CREATE TABLE {table}_default PARTITION OF {new} DEFAULT")
    listed = ", ".join(columns)
    cursor.execute(f"""
        INSERT INTO {new} ({listed}, {KEY})
        SELECT {", ".join(f"t.{name}" for name in columns)}, i.created_at
        FROM {table} t JOIN {INSTANCE_TABLE} i ON i.id = t.instance_id""")
    cursor.execute(f"DROP TABLE {table}")
    cursor.execute(f"ALTER TABLE {new} RENAME TO {table}")
    _identity_from(cursor, table, position)
    for name, kind, definition in constraints:
        if kind == "p":
            cursor.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} PRIMARY KEY (id, {KEY})")
        elif kind == "u":
            assert definition.endswith(")"), definition
            cursor.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} "
                           f"{definition[:-1]}, {KEY})")
        elif kind == "f" and name == TABLES[table]:
            pass  # not enforced any more (the model's db_constraint=False)
        elif kind == "f":
            cursor.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition}")
        elif kind != "c":  # CHECK constraints came with LIKE
            raise RuntimeError(f"{table}: constraint {name} ({kind}) is not handled")
    for sql in indexes:
        if sql.startswith("CREATE UNIQUE"):
            raise RuntimeError(f"{table}: a unique index must contain {KEY}: {sql}")
        cursor.execute(sql)
    cursor.execute(f"ANALYZE {table}")


def unpartition(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        for table, foreign_key in TABLES.items():
            _unpartition_table(cursor, table, foreign_key)


def _unpartition_table(cursor, table: str, foreign_key: str) -> None:
    new = f"{table}__plain"
    columns = [name for name in _columns(cursor, table) if name != KEY]
    constraints = _constraints(cursor, table)
    indexes = _plain_indexes(cursor, table)
    position = _sequence_position(cursor, table)
    cursor.execute(f"""
        CREATE TABLE {new} (LIKE {table} INCLUDING DEFAULTS INCLUDING CONSTRAINTS
                            INCLUDING STORAGE INCLUDING COMMENTS)""")
    cursor.execute(f"ALTER TABLE {new} DROP COLUMN {KEY}")
    listed = ", ".join(columns)
    # Rows of instances already deleted (left for a partition drop) do not come back.
    cursor.execute(f"""
        INSERT INTO {new} ({listed}) SELECT {listed} FROM {table} t
        WHERE EXISTS (SELECT 1 FROM {INSTANCE_TABLE} i WHERE i.id = t.instance_id)""")
    cursor.execute(f"DROP TABLE {table}")
    cursor.execute(f"ALTER TABLE {new} RENAME TO {table}")
    _identity_from(cursor, table, position)
    for name, kind, definition in constraints:
        if kind == "p":
            cursor.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} PRIMARY KEY (id)")
        elif kind == "u":
            cursor.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} "
                           f"{definition.replace(f', {KEY})', ')')}")
        elif kind == "f":
            cursor.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition}")
        elif kind != "c":
            raise RuntimeError(f"{table}: constraint {name} ({kind}) is not handled")
    cursor.execute(f"""
        ALTER TABLE {table} ADD CONSTRAINT {foreign_key} FOREIGN KEY (instance_id)
        REFERENCES {INSTANCE_TABLE} (id) DEFERRABLE INITIALLY DEFERRED""")
    for sql in indexes:
        cursor.execute(sql.replace(" ON ONLY ", " ON "))


def copy_created_at(apps, schema_editor):
    instance_model = apps.get_model("workflows", "WorkflowInstance")
    created_at = models.Subquery(instance_model.objects.filter(pk=models.OuterRef("instance_id"))
                                 .values("created_at")[:1])
    for name in ("JournalEntry", "ActivityExecution"):
        apps.get_model("workflows", name).objects.update(instance_created_at=created_at)


OPERATIONS = [
    migrations.AddField(
        model_name="activityexecution", name=KEY,
        field=models.DateTimeField(editable=False, help_text=HELP, null=True)),
    migrations.AddField(
        model_name="journalentry", name=KEY,
        field=models.DateTimeField(editable=False, help_text=HELP, null=True)),
    migrations.RunPython(copy_created_at, migrations.RunPython.noop),
    migrations.AlterField(
        model_name="activityexecution", name=KEY,
        field=models.DateTimeField(editable=False, help_text=HELP)),
    migrations.AlterField(
        model_name="journalentry", name=KEY,
        field=models.DateTimeField(editable=False, help_text=HELP)),
    migrations.RemoveConstraint(model_name="activityexecution", name="execution_unique_key"),
    migrations.AddConstraint(
        model_name="activityexecution",
        constraint=models.UniqueConstraint(fields=("instance", "key", KEY),
                                           name="execution_unique_key")),
    migrations.RemoveConstraint(model_name="journalentry", name="journal_unique_seq"),
    migrations.AddConstraint(
        model_name="journalentry",
        constraint=models.UniqueConstraint(fields=("instance", "sequence", KEY),
                                           name="journal_unique_seq")),
    migrations.AlterField(
        model_name="activityexecution", name="instance",
        field=models.ForeignKey(db_constraint=False, db_index=False,
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="activity_executions",
                                to="workflows.workflowinstance")),
    migrations.AlterField(
        model_name="journalentry", name="instance",
        field=models.ForeignKey(db_constraint=False, db_index=False,
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="journal", to="workflows.workflowinstance")),
]


class Migration(migrations.Migration):

    dependencies = [
        # After the index migration (0017_lists_indexes): its CONCURRENTLY builds need plain
        # tables, and the conversion carries the indexes it made over to the partitioned tables.
        ("workflows", "0019_merge_timers"),
    ]

    operations = [
        OnPostgreSQL(OPERATIONS, postgresql=migrations.RunPython(partition, unpartition)),
    ]
