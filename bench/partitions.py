"""Partitions: how long migration 0020 takes on existing rows, and a month's rows deleted row by
row against its partition dropped.

Run with `python -m bench.partitions [--instances 50000 --journal-per-instance 20]`. It makes
its own PostgreSQL database, migrates it to 0019 (plain tables), seeds instances spread over four
months with their journal and executions by SQL, then times `migrate workflows 0020` (the
partitioning copy) and its reverse, and, once partitioned again, deleting one month's journal
and executions with DELETE against detaching and dropping the next month's partitions (the same
number of rows). Prints the figures; wall-clock times depend on the machine's load.
"""

import argparse
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psycopg

REPO = Path(__file__).resolve().parent.parent
BEFORE, PARTITIONED = "0019_merge_timers", "0020_part_partitions"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=50_000)
    parser.add_argument("--journal-per-instance", type=int, default=20)
    parser.add_argument("--executions-per-instance", type=int, default=4)
    parser.add_argument("--postgres", default="postgres://postgres@127.0.0.1:5432")
    return parser.parse_args(argv)


def manage(env: dict, *args: str) -> float:
    started = time.monotonic()
    result = subprocess.run([sys.executable, "manage.py", *args], cwd=REPO, env=env,
                            capture_output=True, text=True, check=False)
    if result.returncode:
        raise RuntimeError(f"{args} failed:\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}")
    return time.monotonic() - started


def seed(url: str, env: dict, args) -> dict:
    os.environ.update(env)
    import django

    django.setup()
    from django.db import connection

    from workflows.models import WorkflowDefinition, WorkflowInstance
    from workflows.services.tenancy import tenant_member_ensure

    tenant = tenant_member_ensure(tenant_slug="bench", username="bench", role="editor",
                                  password="bench-password").tenant
    definition = WorkflowDefinition.objects.create(
        tenant=tenant, definition_id="seed", version=1, name="seed", body={})
    template = WorkflowInstance.objects.create(
        tenant=tenant, definition_version=definition, definition_id="seed", version=1,
        status="finished")
    connection.close()
    with psycopg.connect(url, autocommit=True) as conn:
        columns = [row[0] for row in conn.execute("""
            SELECT attname FROM pg_attribute WHERE attrelid = 'workflows_workflowinstance'::regclass
            AND attnum > 0 AND NOT attisdropped AND attname NOT IN ('id', 'created_at')""")]
        listed = ", ".join(columns)
        conn.execute(f"""
            INSERT INTO workflows_workflowinstance (id, created_at, {listed})
            SELECT gen_random_uuid(), now() - (n %% 120) * interval '1 day', {listed}
            FROM workflows_workflowinstance, generate_series(1, %s) n WHERE id = %s""",
                     [args.instances, template.pk])
        conn.execute("""
            INSERT INTO workflows_journalentry (sequence, event, activity_id, activity_type,
                message, data, timestamp, instance_id)
            SELECT s, 'completed', 'step' || s, 'WriteLine', 'hello from a seeded step',
                   '{"value": 42, "text": "some activity output"}', now(), i.id
            FROM workflows_workflowinstance i, generate_series(1, %s) s""",
                     [args.journal_per_instance])
        conn.execute("""
            INSERT INTO workflows_activityexecution (key, activity_id, activity_type, status,
                attempt, input, output, traceback, started_at, finished_at, instance_id)
            SELECT 'k' || s, 'step' || s, 'WriteLine', 'completed', 1, '{"text": "x"}',
                   '{"value": 42}', '', now(), now(), i.id
            FROM workflows_workflowinstance i, generate_series(1, %s) s""",
                     [args.executions_per_instance])
        conn.execute("VACUUM ANALYZE")
        return {table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
                for table in ("workflows_journalentry", "workflows_activityexecution")}


def delete_against_drop(url: str) -> dict:
    with psycopg.connect(url, autocommit=True) as conn:
        months = [row[0] for row in conn.execute("""
            SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
            WHERE i.inhparent = 'workflows_journalentry'::regclass AND c.relname ~ '_p[0-9]'
            ORDER BY c.relname""")]
        # Two full months in the middle of the seeded range (the first and last are partial).
        first, second = months[1][-7:], months[2][-7:]
        rows = {}
        wal = conn.execute("SELECT pg_current_wal_lsn()").fetchone()[0]
        started = time.monotonic()
        with conn.transaction():
            for table in ("workflows_journalentry", "workflows_activityexecution"):
                rows[table] = conn.execute(
                    f"DELETE FROM {table}_p{first}").rowcount
        deleted = time.monotonic() - started
        delete_wal = conn.execute("SELECT pg_current_wal_lsn() - %s::pg_lsn", [wal]).fetchone()[0]
        sizes = {table: conn.execute(f"SELECT count(*) FROM {table}_p{second}").fetchone()[0]
                 for table in ("workflows_journalentry", "workflows_activityexecution")}
        wal = conn.execute("SELECT pg_current_wal_lsn()").fetchone()[0]
        started = time.monotonic()
        with conn.transaction():  # what holds the parents' lock (retention's first transaction)
            for table in ("workflows_journalentry", "workflows_activityexecution"):
                conn.execute(f"ALTER TABLE {table} DETACH PARTITION {table}_p{second}")
        detached = time.monotonic() - started
        with conn.transaction():
            for table in ("workflows_journalentry", "workflows_activityexecution"):
                conn.execute(f"DROP TABLE {table}_p{second}")
        dropped = time.monotonic() - started
        drop_wal = conn.execute("SELECT pg_current_wal_lsn() - %s::pg_lsn", [wal]).fetchone()[0]
    return {"delete_wal": int(delete_wal), "drop_wal": int(drop_wal),
            "deleted_rows": rows, "delete_s": deleted, "dropped_rows": sizes, "drop_s": dropped,
            "detach_s": detached}


def main(argv=None) -> None:
    args = parse_args(argv)
    name = f"weft_bench_partitions_{uuid.uuid4().hex[:6]}"
    url = f"{args.postgres}/{name}"
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "config.settings",
           "SECRET_KEY": "bench-only-secret-key-not-for-anything-else-0123456789",
           "LOG_LEVEL": "WARNING"}
    with psycopg.connect(f"{args.postgres}/postgres", autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    try:
        manage(env, "migrate", "--noinput", "-v", "0")
        manage(env, "migrate", "workflows", BEFORE, "--noinput", "-v", "0")
        counts = seed(url, env, args)
        startup = manage(env, "migrate", "workflows", BEFORE, "--noinput", "-v", "0")  # no-op
        forward = manage(env, "migrate", "workflows", PARTITIONED, "--noinput", "-v", "0") - startup
        backward = manage(env, "migrate", "workflows", BEFORE, "--noinput", "-v", "0") - startup
        manage(env, "migrate", "workflows", PARTITIONED, "--noinput", "-v", "0")
        drop = delete_against_drop(url)
    finally:
        with psycopg.connect(f"{args.postgres}/postgres", autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    rows = sum(counts.values())
    print(f"rows: {counts} ({rows:,} in all); a no-op migrate ({startup:.1f} s) is subtracted")
    print(f"migrate {PARTITIONED} (partition, copy): {forward:.1f} s, "
          f"{forward / rows * 1e6:.1f} s per million rows")
    print(f"migrate back to {BEFORE} (plain tables): {backward:.1f} s, "
          f"{backward / rows * 1e6:.1f} s per million rows")
    print(f"one month by DELETE: {sum(drop['deleted_rows'].values()):,} rows in "
          f"{drop['delete_s']:.2f} s; the next month by DETACH + DROP: "
          f"{sum(drop['dropped_rows'].values()):,} rows in {drop['drop_s']:.3f} s, of which the "
          f"detach (the parents locked) {drop['detach_s']:.3f} s")
    print(f"WAL written: DELETE {drop['delete_wal'] / 2**20:.1f} MiB, "
          f"DETACH + DROP {drop['drop_wal'] / 2**10:.1f} KiB (not counting VACUUM after the "
          "DELETE)")


if __name__ == "__main__":
    main()
