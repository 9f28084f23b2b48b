"""Monthly partitions of the journal and the activity executions (PostgreSQL): what the migration
builds, the job that creates partitions ahead, where rows land, and retention dropping a month's
partitions only once nothing of that month is left."""

import importlib
import re
import types
from datetime import timedelta

import psycopg
import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from tests.factories import UserFactory
from tests.integration.execution.conftest import drain_steps
from tests.integration.retention.conftest import WRITES, ended
from workflows.models import ActivityExecution, JournalEntry, WorkflowInstance
from workflows.selectors.instances import instance_activity_executions, instance_journal
from workflows.services.inline import instance_execute
from workflows.services.partitions import (
    GRACE,
    month_next,
    month_start,
    partition_name,
    partitions_create_ahead,
    partitions_drop_retired,
)
from workflows.services.retention import retention_apply

pytestmark = pytest.mark.django_db

JOURNAL, EXECUTIONS = "workflows_journalentry", "workflows_activityexecution"
TABLES = (JOURNAL, EXECUTIONS)


def rows(sql: str, params=()) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def partitions_of(table: str) -> set[str]:
    return {name for (name,) in rows("""
        SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = %s::regclass""", [table])}


def where(table: str, instance_id) -> set[str]:
    """The partitions holding `instance_id`'s rows of `table`."""
    return {name for (name,) in rows(
        f"SELECT DISTINCT tableoid::regclass::text FROM {table} WHERE instance_id = %s",
        [instance_id])}


def moved_to(instance: WorkflowInstance, created_at) -> WorkflowInstance:
    """Pretend `instance` was created at `created_at`: its rows move to that month's partition
    (an UPDATE of the partition key moves a row)."""
    WorkflowInstance.objects.filter(pk=instance.pk).update(created_at=created_at)
    for model in (JournalEntry, ActivityExecution):
        model.objects.filter(instance=instance).update(instance_created_at=created_at)
    instance.refresh_from_db()
    return instance


def months_from(month, count: int) -> list:
    months = [month]
    for _ in range(count - 1):
        months.append(month_next(months[-1]))
    return months


def test_the_tables_are_partitioned_by_month_of_the_instance(db):
    found = dict(rows("""
        SELECT c.relname, p.partstrat FROM pg_partitioned_table p
        JOIN pg_class c ON c.oid = p.partrelid WHERE c.relname = ANY(%s)""", [list(TABLES)]))
    assert found == {JOURNAL: "r", EXECUTIONS: "r"}
    this_month = month_start(timezone.now())
    for table in TABLES:
        (key,) = rows("""
            SELECT a.attname FROM pg_partitioned_table p JOIN pg_attribute a
            ON a.attrelid = p.partrelid AND a.attnum = p.partattrs[0]
            WHERE p.partrelid = %s::regclass""", [table])
        assert key == ("instance_created_at",)
        expected = {partition_name(table, month) for month in months_from(this_month, 4)}
        assert expected | {f"{table}_default"} <= partitions_of(table)
        # The database's primary key holds the partition key; Django's is `id`.
        (primary,) = rows("""SELECT pg_get_constraintdef(oid) FROM pg_constraint
                             WHERE conrelid = %s::regclass AND contype = 'p'""", [table])
        assert primary == ("PRIMARY KEY (id, instance_created_at)",)


def test_rows_land_in_their_instances_month(tenant, publish):
    publish(WRITES)
    instance = instance_execute(tenant=tenant, definition_id="writes", input={"name": "ada"})
    month = month_start(instance.created_at)
    assert JournalEntry.objects.filter(instance=instance).count() >= 2
    for table in TABLES:
        assert where(table, instance.pk) == {partition_name(table, month)}
    entry = JournalEntry.objects.filter(instance=instance).first()
    assert entry.instance_created_at == instance.created_at
    # The lists read the instance's month only (the partition key prunes the others).
    journal = instance_journal(tenant=tenant, instance_id=instance.pk)
    executions = instance_activity_executions(tenant=tenant, instance_id=instance.pk)
    for table, rows in ((JOURNAL, journal), (EXECUTIONS, executions)):
        plan = rows.explain()
        read = {name for name in partitions_of(table) if re.search(rf" on {name}\b", plan)}
        assert read == {partition_name(table, month)}, plan
    # Django still finds, updates and deletes rows by `id` alone.
    entry.message = "edited"
    entry.save()
    assert JournalEntry.objects.get(pk=entry.pk).message == "edited"
    JournalEntry.objects.filter(pk=entry.pk).delete()
    assert not JournalEntry.objects.filter(pk=entry.pk).exists()


def test_a_month_without_partition_goes_to_the_default_one_until_the_job_makes_it(tenant,
                                                                                  publish):
    publish(WRITES)
    instance = instance_execute(tenant=tenant, definition_id="writes", input={"name": "ada"})
    far = months_from(month_start(timezone.now()), 9)[-1]  # beyond the months made ahead
    moved_to(instance, far + timedelta(days=3))
    for table in TABLES:
        assert where(table, instance.pk) == {f"{table}_default"}

    created = partitions_create_ahead(now=far, months_ahead=1)

    assert created == [partition_name(JOURNAL, far), partition_name(JOURNAL, month_next(far)),
                       partition_name(EXECUTIONS, far),
                       partition_name(EXECUTIONS, month_next(far))]
    for table in TABLES:
        assert where(table, instance.pk) == {partition_name(table, far)}
        assert not rows(f"SELECT 1 FROM {table}_default")
    # Idempotent: a second run (another beat tick) finds nothing to do.
    assert partitions_create_ahead(now=far, months_ahead=1) == []
    assert JournalEntry.objects.filter(instance=instance).count() >= 2


def test_the_beat_schedule_maintains_partitions(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["weft-maintain-partitions"]
    assert entry["task"] == "weft.maintain_partitions"
    from workflows.tasks import maintain_partitions

    assert maintain_partitions.run() == []  # the migration made this month and the next three


def test_a_months_partitions_are_dropped_only_once_its_instances_are_gone(tenant, publish,
                                                                          store, settings,
                                                                          operator):
    settings.WEFT_RETENTION_FINISHED_DAYS = 30
    publish(WRITES)
    old_month = month_start(timezone.now() - timedelta(days=100))
    assert partitions_create_ahead(now=old_month, months_ahead=0) == [
        partition_name(JOURNAL, old_month), partition_name(EXECUTIONS, old_month)]
    retired = moved_to(ended(tenant, "writes", days_ago=40), old_month + timedelta(days=1))
    kept = moved_to(ended(tenant, "writes", days_ago=5), old_month + timedelta(days=2))
    recent = ended(tenant, "writes", days_ago=40)  # created this month
    for table in TABLES:
        assert where(table, retired.pk) == {partition_name(table, old_month)}
    assert partitions_drop_retired() == []  # two instances of that month exist

    report = retention_apply(store=store)

    assert (report.deleted, report.archived, report.partitions_dropped) == (2, 2, 0)
    assert not WorkflowInstance.objects.filter(pk__in=[retired.pk, recent.pk]).exists()
    # This month's rows went row by row; the old month's stay for the partition drop.
    assert not JournalEntry.objects.filter(instance_id=recent.pk).exists()
    assert JournalEntry.objects.filter(instance_id=retired.pk).exists()
    assert ActivityExecution.objects.filter(instance_id=retired.pk).exists()
    assert partition_name(JOURNAL, old_month) in partitions_of(JOURNAL)
    # The instance still there reads its rows from the old partition, through the API too.
    journal = operator.get(f"/api/v1/instances/{kept.pk}/journal/")
    assert journal.status_code == 200, journal.content
    assert len(journal.json()["results"]) == JournalEntry.objects.filter(instance=kept).count()

    WorkflowInstance.objects.filter(pk=kept.pk).update(
        finished_at=timezone.now() - timedelta(days=31))
    report = retention_apply(store=store)

    assert (report.deleted, report.partitions_dropped) == (1, 2)
    for table in TABLES:
        assert partition_name(table, old_month) not in partitions_of(table)
        assert not where(table, retired.pk) and not where(table, kept.pk)
    assert partition_name(JOURNAL, month_start(timezone.now())) in partitions_of(JOURNAL)


def test_a_month_is_not_dropped_before_its_grace_is_over(db):
    old_month = month_start(timezone.now() - timedelta(days=100))
    partitions_create_ahead(now=old_month, months_ahead=0)
    over = month_next(old_month)

    assert partitions_drop_retired(now=over + GRACE - timedelta(hours=1)) == []
    assert partitions_drop_retired(now=over + GRACE) == [
        partition_name(JOURNAL, old_month), partition_name(EXECUTIONS, old_month)]


def test_the_api_and_admin_list_journal_and_executions(tenant, publish, editor):
    publish(WRITES)
    started = editor.post("/api/v1/definitions/writes/dispatch/", {"input": {"name": "ada"}},
                          format="json")
    assert started.status_code in (200, 201, 202), started.content
    instance_id = started.json()["id"]
    drain_steps()
    journal = editor.get(f"/api/v1/instances/{instance_id}/journal/")
    executions = editor.get(f"/api/v1/instances/{instance_id}/activity-executions/")
    assert journal.status_code == executions.status_code == 200
    assert [entry["sequence"] for entry in journal.json()["results"]] == list(
        JournalEntry.objects.filter(instance_id=instance_id).order_by("sequence")
        .values_list("sequence", flat=True))
    assert {record["activity_id"] for record in executions.json()["results"]} == {
        "main", "hello", "out"}
    admin = Client()
    admin.force_login(UserFactory(is_staff=True, is_superuser=True))
    entry = JournalEntry.objects.filter(instance_id=instance_id).first()
    execution = ActivityExecution.objects.filter(instance_id=instance_id).first()
    for url in ("/admin/workflows/journalentry/", "/admin/workflows/activityexecution/",
                f"/admin/workflows/journalentry/{entry.pk}/change/",
                f"/admin/workflows/activityexecution/{execution.pk}/change/",
                f"/admin/workflows/workflowinstance/{instance_id}/change/"):
        assert admin.get(url).status_code == 200, url


def test_the_migration_converts_tables_with_rows_both_ways(tenant, publish):
    """The migration's two functions on this database (in the test's transaction: DDL rolls
    back): plain tables again, then partitioned again, rows and ids kept."""
    migration = importlib.import_module("workflows.migrations.0020_part_partitions")
    editor = types.SimpleNamespace(connection=connection)
    publish(WRITES)
    instances = [instance_execute(tenant=tenant, definition_id="writes", input={"name": n})
                 for n in ("ada", "grace")]
    before = {table: rows(f"SELECT id, instance_id, instance_created_at FROM {table} "
                          "ORDER BY id") for table in TABLES}
    assert all(before.values())
    # A row of an instance retention already deleted (left for a partition drop).
    JournalEntry.objects.create(instance_id="00000000-0000-0000-0000-000000000001",
                                instance_created_at=timezone.now(), sequence=1, event="log",
                                timestamp=timezone.now())

    migration.unpartition(None, editor)

    assert not rows("SELECT 1 FROM pg_partitioned_table WHERE partrelid = ANY(%s::regclass[])",
                    [list(TABLES)])
    for table in TABLES:
        assert rows(f"SELECT id, instance_id FROM {table} ORDER BY id") == [
            row[:2] for row in before[table]]
        assert rows("""SELECT 1 FROM pg_constraint WHERE conrelid = %s::regclass
                       AND contype = 'f'""", [table])

    migration.partition(None, editor)

    for table in TABLES:
        assert rows(f"SELECT id, instance_id, instance_created_at FROM {table} "
                    "ORDER BY id") == before[table]
        assert f"{table}_default" in partitions_of(table)
    created = {instance.pk: instance.created_at for instance in instances}
    assert all(row[2] == created[row[1]] for row in before[JOURNAL])
    # New rows get new ids (the identity carried over).
    instance_execute(tenant=tenant, definition_id="writes", input={"name": "lin"})
    assert JournalEntry.objects.order_by("-id").first().id > max(row[0] for row in before[JOURNAL])


def test_a_drop_waits_no_longer_than_its_lock_timeout(db, settings):
    """A transaction that holds the journal (a step writing its rows) makes the drop give up
    after `WEFT_PARTITION_LOCK_TIMEOUT_MS` and try again on a later tick."""
    settings.WEFT_PARTITION_LOCK_TIMEOUT_MS = 50
    later = month_start(timezone.now()) + timedelta(days=366)  # every month made is over then
    with psycopg.connect(**connection.get_connection_params()) as step:
        step.execute("SET lock_timeout = '10s'")
        step.execute(f"LOCK TABLE ONLY {JOURNAL} IN ROW EXCLUSIVE MODE")  # as an INSERT does

        assert partitions_drop_retired(now=later) == []

        step.rollback()
    dropped = partitions_drop_retired(now=later)
    assert partition_name(JOURNAL, month_start(timezone.now())) in dropped
    assert partition_name(EXECUTIONS, month_start(timezone.now())) in dropped
