"""`bench.scale` at a tiny size, so that the benchmark's own code cannot rot: the COPY seeding
(columns read from the models), every list page it times (API and admin, through the real
stack), the retention phase (without workers or archive) and the lock watcher. Figures are not
checked here: speed belongs to the benchmark."""

import threading

import psycopg
import pytest

from bench import scale, scale_measure, scale_retention
from bench.scale_seed import SeedPlan, Table, seed
from workflows.models import (
    ActivityExecution,
    Bookmark,
    Incident,
    JournalEntry,
    Step,
    TriggerFire,
    WorkflowInstance,
)

pytestmark = pytest.mark.django_db

TINY = SeedPlan(instances=150, journal=1800, tenants=2, definitions=2, months=2, audit=40,
                prefix="scale")


@pytest.fixture
def seeded():
    return seed(TINY, log=lambda message: None)


def test_seeding_writes_the_planned_rows_over_months_and_statuses(seeded):
    assert WorkflowInstance.objects.count() == TINY.instances
    assert JournalEntry.objects.count() == TINY.journal
    statuses = set(WorkflowInstance.objects.values_list("status", flat=True))
    assert {"finished", "faulted"} <= statuses and len(statuses) >= 3
    first = WorkflowInstance.objects.order_by("created_at").first().created_at
    last = WorkflowInstance.objects.order_by("-created_at").first().created_at
    assert (last - first).days >= 30
    assert ActivityExecution.objects.count() > TINY.instances
    assert Incident.objects.count() == WorkflowInstance.objects.filter(status="faulted").count()
    assert Bookmark.objects.count() == WorkflowInstance.objects.filter(
        status="suspended").count()
    assert Step.objects.exists() and TriggerFire.objects.exists()
    # Every instance's journal is numbered 1..n without a gap, as the engine writes it.
    one = seeded.long_ids[0] if seeded.long_ids else seeded.normal_ids[0]
    sequences = list(JournalEntry.objects.filter(instance_id=one).order_by("sequence")
                     .values_list("sequence", flat=True))
    assert sequences == list(range(1, len(sequences) + 1))
    assert sum(seeded.rows.values()) >= TINY.instances + TINY.journal


def test_a_required_column_the_generator_does_not_know_stops_the_seeding():
    with pytest.raises(Exception, match="does not fill it"):
        Table(JournalEntry, ["instance_id", "event"])


def test_every_list_page_answers_and_is_timed(seeded):
    chosen = scale_measure.measure_lists(seeded, samples=1, warm_up=False,
                                          log=lambda message: None)
    measured = [m for m in chosen if m.url or m.chain]
    assert len(measured) >= 20
    for m in measured:
        assert m.errors == [] and len(m.times) == 1, (m.name, m.errors)
        assert m.queries[0] > 0
    api = [m for m in measured if m.group == "API" and "first page" in m.name]
    assert all(m.rows[0] > 0 for m in api)
    assert "| API: instances, first page |" in scale_measure.markdown(chosen)


def test_retention_phase_removes_what_the_policy_expired(seeded):
    before = WorkflowInstance.objects.count()
    result = scale_retention.run_phases(
        tenant_pks=[pk for pk, _ in seeded.tenants], load_tenant=None, load_definition=None,
        store=None, expire_archive=0, expire_plain=30, load_seconds=0, in_flight=0,
        max_seconds=60, log=lambda message: None)
    [phase] = result.phases
    assert phase.expired > 0
    assert phase.retention["deleted"] == phase.expired
    assert WorkflowInstance.objects.count() == before - phase.expired
    assert "retention, no archive" in scale_retention.markdown(result, with_load=False)


def test_the_lock_watch_names_a_wait_on_a_lock_retention_holds():
    dsn = scale_retention.connection_dsn()
    watch = scale_retention.LockWatch(dsn, interval=0.005)
    holder = psycopg.connect(dsn, autocommit=True)
    waiter = psycopg.connect(dsn, autocommit=True)
    holder_pid, waiter_pid = holder.info.backend_pid, waiter.info.backend_pid
    try:
        holder.execute("SELECT pg_advisory_lock(424242)")
        watch.retention_pids.add(holder_pid)
        watch.start()
        blocked = threading.Thread(
            target=lambda: waiter.execute("SELECT pg_advisory_lock(424242)"))
        blocked.start()
        while not watch.waits:
            blocked.join(0.01)
        holder.execute("SELECT pg_advisory_unlock(424242)")
        blocked.join(10)
        waiter.execute("SELECT pg_advisory_unlock(424242)")
    finally:
        watch.stop()
        holder.close()
        waiter.close()
    [wait] = watch.waits.values()
    assert wait.pid == waiter_pid
    assert holder_pid in wait.blockers
    assert wait.what.startswith("ExclusiveLock")


def test_results_keep_other_labels_and_other_sections(tmp_path):
    path = tmp_path / "RESULTS.md"
    path.write_text("# Benchmark results\n\n## Timers\n\nkept\n")
    scale.write_results(path, "before", "### before\n\nold figures")
    scale.write_results(path, "after", "### after\n\nnew figures")
    scale.write_results(path, "after", "### after\n\nnewer figures")
    text = path.read_text()
    assert "## Timers\n\nkept" in text and text.count(scale.SECTION) == 1
    assert "old figures" in text and "newer figures" in text and "new figures\n" not in text
    assert text.index("### before") < text.index("### after")


def test_the_lock_watch_times_retention_transactions_that_hold_rows():
    dsn = scale_retention.connection_dsn()
    watch = scale_retention.LockWatch(dsn, interval=0.005)
    with psycopg.connect(dsn, autocommit=True) as holder:
        watch.retention_pids.add(holder.info.backend_pid)
        watch.start()
        try:
            holder.execute("BEGIN")
            holder.execute("SELECT txid_current()")  # a transaction id, as a write takes
            while not watch.transactions:
                watch.join(0.01)
            holder.execute("COMMIT")
        finally:
            watch.stop()
    [(began, seen)] = watch.transactions.values()
    assert seen >= began
    [statements] = watch.statements.values()
    assert any("txid_current" in q for q in statements)
