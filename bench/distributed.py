"""Weft on real workers against a plain Celery baseline, side by side in one run.

Run with `python -m bench.distributed` (or `make bench`, after `bench.engine`). One local SQS
server (moto), one PostgreSQL database of its own (created, migrated, dropped at the end) and
the SAME worker processes (`celery -A config worker --include bench.tasks`) serve both sides:

(a) latency: a 50-step inline workflow (a Sequence of SetVariable) from dispatch to finished,
    against a chain of 50 no-op Celery tasks from send to the last task done;
(b) throughput: N workflows of 5 sequential `examples.add` task steps against N chains of 5
    no-op tasks, runs alternating (ABBA), medians;
(c) SQL statements per task step and per inline step, counted in-process around `step_process`
    (no broker) on the same database, before the workers start.

The SQS server is moto with one race fixed (workflows/sqs/moto_server.py: stock moto loses a
message sent during a DeleteMessage). Both sides are timed by when the work really ended (the
instance's `finished_at`, written by the worker; the chain's last task's clock, pushed to
Redis), not by when the benchmark noticed.
Prints a table and writes bench/RESULTS.md. Compare the two sides of one run, not absolute
figures across machines (the local SQS server is the bottleneck: docs/sqs.md).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from unittest import mock

REPO = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
LOG_DIR = Path(tempfile.gettempdir()) / "weft-bench-logs"

LATENCY_TARGET = 0.1  # weft / chain, at most
THROUGHPUT_TARGET = 0.8  # weft / chain, at least
TASK_STEP_STATEMENTS_TARGET = 6


# ---- options and settings ----------------------------------------------------------------------


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pg", default=os.environ.get("BENCH_PG_URL",
                                                        "postgres://postgres@127.0.0.1:5432"),
                        help="PostgreSQL server (no database name)")
    parser.add_argument("--database", default="weft_bench",
                        help="database created for the run and dropped at the end")
    parser.add_argument("--redis", default=os.environ.get("BENCH_REDIS_URL",
                                                           "redis://127.0.0.1:6379/14"))
    parser.add_argument("--workers", type=int, default=2, help="worker processes")
    parser.add_argument("--concurrency", type=int, default=2, help="prefork children each")
    parser.add_argument("--prefetch", type=int, default=4, help="worker_prefetch_multiplier")
    parser.add_argument("--polling-interval", type=float, default=0.1,
                        help="kombu SQS polling_interval, seconds")
    parser.add_argument("--wait-time", type=int, default=20, help="SQS long poll, seconds")
    parser.add_argument("--log-level", default="INFO", help="workers' (Celery and Weft) level")
    parser.add_argument("--worker-env", action="append", default=[], metavar="NAME=VALUE",
                        help="extra environment of every process, e.g. "
                             "WEFT_STEP_CONTINUE_MAX=0 (one message per step); repeatable")
    parser.add_argument("--latency-steps", type=int, default=50)
    parser.add_argument("--latency-runs", type=int, default=7)
    parser.add_argument("--throughput-count", type=int, default=500,
                        help="workflows (and chains) per throughput run")
    parser.add_argument("--throughput-steps", type=int, default=5)
    parser.add_argument("--throughput-runs", type=int, default=2,
                        help="runs per side, alternating weft/chain (ABBA)")
    parser.add_argument("--budget", type=int, default=300,
                        help="seconds: after the first weft/chain pair of throughput runs, "
                             "another pair runs only if it fits in this")
    parser.add_argument("--no-peer", action="store_true",
                        help="skip the DBOS Transact peer (bench/dbos_peer.py)")
    parser.add_argument("--peer-database", default="weft_bench_dbos",
                        help="DBOS's system database, created for the run and dropped after")
    parser.add_argument("--peer-count", type=int, default=100,
                        help="workflows per peer throughput run, shapes (b) and (c)")
    parser.add_argument("--peer-steps", default="5,10",
                        help="task steps per workflow of the peer throughput shapes")
    parser.add_argument("--peer-runs", type=int, default=2,
                        help="runs per side and shape, alternating weft/dbos (ABBA)")
    parser.add_argument("--dbos-polling-interval", type=float, default=0.1,
                        help="DBOS queue polling_interval_sec")
    parser.add_argument("--dbos-executors", type=int, default=1,
                        help="DBOS executor processes (one DBOS process runs its workflows in "
                             "threads; executors that contend for the queue back off)")
    parser.add_argument("--dbos-worker-concurrency", type=int, default=None,
                        help="DBOS queue worker_concurrency (unset: DBOS's default, no limit)")
    parser.add_argument("--scale-workers", type=int, default=0, metavar="N",
                        help="afterwards, restart Weft with N worker processes and repeat the "
                             "peer throughput shapes (Weft only), to compare N with --workers")
    parser.add_argument("--max-seconds", type=int, default=900,
                        help="hard limit for the whole benchmark (then it stops and cleans up)")
    parser.add_argument("--engine-output", type=Path,
                        help="saved output of `python -m bench.engine` to put in RESULTS.md")
    parser.add_argument("--tracing", action="store_true",
                        help="traces on: every process exports its spans over OTLP/HTTP to a "
                             "receiver in this process (the cost of tracing)")
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--no-results", action="store_true", help="do not write RESULTS.md")
    return parser.parse_args(argv)


def settings_summary(args) -> str:
    return (f"{args.workers} worker processes x prefork concurrency {args.concurrency}; "
            f"prefetch multiplier {args.prefetch}; polling interval {args.polling_interval:g} s; "
            f"long poll (wait time) {args.wait_time} s; visibility timeout 300 s; "
            "standard queue (not FIFO), kombu's default base64 bodies; acks_late on both sides "
            f"(task_acks_late, ignore_result); one queue `workflow-tasks` for both; "
            f"worker log level {args.log_level}; "
            f"{'extra environment ' + ', '.join(args.worker_env) + '; ' if args.worker_env else ''}"
            f"no beat (nothing is delayed); local SQS server: "
            "moto with its DeleteMessage made thread-safe (workflows/sqs/moto_server.py: stock "
            "moto 5.2.5 loses messages under this load)")


def bench_env(args, sqs_url: str, database_url: str, prefix: str) -> dict[str, str]:
    """The environment of every process (workers, migrate, and this one before Django)."""
    from tests.e2e.support.fixtures import sqs_env

    extra = dict(item.split("=", 1) for item in args.worker_env)
    return sqs_env(
        sqs_url,
        WEFT_QUEUE_PREFIX=prefix,
        WEFT_SQS_VISIBILITY_TIMEOUT="300",
        WEFT_SQS_WAIT_TIME=str(args.wait_time),
        WEFT_SQS_POLLING_INTERVAL=str(args.polling_interval),
        WEFT_WORKER_PREFETCH=str(args.prefetch),
        DJANGO_SETTINGS_MODULE="config.settings",
        SECRET_KEY="bench-only-secret-key-not-for-anything-else-0123456789",
        DATABASE_URL=database_url,
        WEFT_DB_POOL_MIN="1",
        WEFT_DB_POOL_MAX="8",
        WEFT_DB_POOL_CHILD_MIN="1",
        WEFT_DB_POOL_CHILD_MAX="4",
        REDIS_URL=args.redis,
        WEFT_CACHE_PREFIX=f"{prefix}cache",
        WEFT_BENCH_REDIS_URL=args.redis,
        LOG_LEVEL=args.log_level,
        WEFT_ACTIVITY_MODULES=None,
        DEBUG=None,
        WEFT_DEV=None,
        **extra,
    )


# ---- machine -----------------------------------------------------------------------------------


def code_version() -> str:
    """The commit measured, with "+changes" when the working tree differs from it."""
    def git(*command: str) -> str:
        result = subprocess.run(["git", *command], cwd=REPO, capture_output=True, text=True,
                                timeout=10, check=False)
        return result.stdout.strip() if result.returncode == 0 else ""

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    changed = git("status", "--porcelain", "--untracked-files=no")
    return f"{commit}+changes" if changed else commit


def machine_info(pg_dsn: str) -> dict[str, str]:
    from importlib.metadata import version

    import psycopg

    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = "unknown"
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    with psycopg.connect(pg_dsn, dbname="postgres", autocommit=True, connect_timeout=5) as conn:
        pg_version = conn.execute("SHOW server_version").fetchone()[0]
    packages = {name: version(name) for name in
                ("celery", "kombu", "moto", "Django", "psycopg", "boto3")}
    return {
        "nproc": str(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                     else os.cpu_count()),
        "cpu": cpu,
        "memory": memory,
        "os": platform.platform(),
        "python": platform.python_version(),
        **{name.lower(): value for name, value in packages.items()},
        "postgresql": pg_version,
        "commit": code_version(),
    }


# ---- services ----------------------------------------------------------------------------------


def pg_connect(pg_url: str):
    import dj_database_url
    import psycopg

    config = dj_database_url.parse(f"{pg_url.rstrip('/')}/postgres")
    params = {"host": config["HOST"] or None, "port": config["PORT"] or None,
              "user": config["USER"] or None, "password": config["PASSWORD"] or None}
    try:
        return psycopg.connect(dbname="postgres", autocommit=True, connect_timeout=5, **params)
    except psycopg.OperationalError as exc:
        raise SystemExit(f"PostgreSQL is not answering at {pg_url}: {exc}") from exc


def recreate_database(pg_url: str, name: str) -> None:
    from psycopg import sql

    with pg_connect(pg_url) as conn:
        # A database left by an interrupted run is dropped first.
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def drop_database(pg_url: str, name: str) -> None:
    from psycopg import sql

    with pg_connect(pg_url) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(name)))


def redis_client(url: str):
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        raise SystemExit(f"Redis is not answering at {url}: {exc}") from exc
    return client


def migrate(env: dict[str, str]) -> None:
    result = subprocess.run(  # our own command line
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=240, check=False)
    if result.returncode:
        raise RuntimeError(f"migrate failed:\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}")


def setup_django(env: dict[str, str]) -> None:
    """This process gets the workers' environment (database, SQS endpoint, queue prefix) before
    Django reads its settings, so that `instance_dispatch` publishes to the local SQS server."""
    os.environ.clear()
    os.environ.update(env)
    os.environ["LOG_LEVEL"] = "WARNING"  # the workers log at --log-level; this process quietly
    import django

    django.setup()
    import config.celery  # noqa: F401  (the Celery app on SQS becomes the current app)


# ---- workflow definitions ----------------------------------------------------------------------


def inline_definition(definition_id: str, steps: int) -> dict:
    return {
        "definition_id": definition_id, "name": definition_id,
        "variables": [{"name": "i", "type": "integer", "default": 0}],
        "outputs": [{"name": "i", "type": "integer"}],
        "root": {"type": "Sequence", "id": "main", "activities": [
            *({"id": f"set{n}", "type": "SetVariable", "variable": "i",
               "value": {"expr": "variables.i + 1"}} for n in range(steps - 1)),
            {"id": "out", "type": "SetOutput", "output": "i", "value": {"expr": "variables.i"}},
        ]},
    }


def tasks_definition(definition_id: str, steps: int) -> dict:
    """`steps` sequential `examples.add` steps: total = n + steps (checked afterwards)."""
    adds = [{"id": "s0", "type": "examples.add", "input": {"a": {"expr": "input.n"}, "b": 1}}]
    adds += [{"id": f"s{k}", "type": "examples.add",
              "input": {"a": {"expr": f"outputs.s{k - 1}"}, "b": 1}} for k in range(1, steps)]
    return {
        "definition_id": definition_id, "name": definition_id,
        "inputs": [{"name": "n", "type": "integer", "default": 0}],
        "outputs": [{"name": "total", "type": "number"}],
        "root": {"type": "Sequence", "id": "main", "activities": [
            *adds,
            {"id": "out", "type": "SetOutput", "output": "total",
             "value": {"expr": f"outputs.s{steps - 1}"}},
        ]},
    }


def peer_steps(args) -> list[int]:
    return [int(k) for k in args.peer_steps.split(",") if k.strip()]


def publish_definitions(args):
    from workflows.services.definitions import definition_create, definition_publish
    from workflows.services.tenancy import tenant_member_ensure

    membership = tenant_member_ensure(tenant_slug="bench", username="bench", role="editor")
    tenant, user = membership.tenant, membership.user
    bodies = [inline_definition("latency", args.latency_steps),
              tasks_definition("tasks", args.throughput_steps),
              tasks_definition("tasks5", 5),
              *(tasks_definition(f"peer{k}", k) for k in peer_steps(args)),
              inline_definition("inline10", 10),
              inline_definition("inline200", 200)]
    for body in bodies:
        definition_create(tenant=tenant, user=user, body=body)
        definition_publish(tenant=tenant, user=user, definition_id=body["definition_id"])
    return tenant


# ---- (c) SQL statements, in-process --------------------------------------------------------------


LAST_SQL: list[str] = []


def counted(function):
    """(result, SQL statements, transactions) of one call, from Django's query log. Django logs
    BEGIN and COMMIT there too: they are counted as transactions (two more round trips each),
    not as statements. The statements' text stays in LAST_SQL."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        result = function()
    control = {"BEGIN", "COMMIT", "ROLLBACK"}
    LAST_SQL[:] = [q["sql"] for q in captured if q["sql"].strip() not in control]
    transactions = sum(1 for q in captured if q["sql"].strip() == "BEGIN")
    return result, len(LAST_SQL), transactions


@dataclass
class StatementCounts:
    """(statements, transactions) of each call. Per message: WEFT_STEP_CONTINUE_MAX=0, every
    step is a `step_process` of its own, as when each arrives as an SQS message. Continued: the
    workers' setting, one `step_process` runs the first burst and the task steps after it."""

    dispatch: tuple[int, int] = (0, 0)
    first_burst: tuple[int, int] = (0, 0)
    task_steps: list[tuple[int, int]] = field(default_factory=list)
    inline10: tuple[int, int] = (0, 0)
    inline200: tuple[int, int] = (0, 0)
    continued: tuple[int, int] = (0, 0)
    continued_steps: int = 0
    continue_max: int = 0
    task_step_sql: list[str] = field(default_factory=list)
    burst_sql: list[str] = field(default_factory=list)

    @property
    def task_step_max(self) -> int:
        return max(s for s, _ in self.task_steps)

    @property
    def per_inline_step(self) -> float:
        return (self.inline200[0] - self.inline10[0]) / 190

    @property
    def per_continued_step(self) -> float:
        """Statements per step of a continued run, after its one claim (0: not measured)."""
        return (self.continued[0] - 1) / self.continued_steps if self.continued_steps else 0.0

    @property
    def per_workflow(self) -> int:
        return self.dispatch[0] + self.first_burst[0] + sum(s for s, _ in self.task_steps)

    @property
    def transactions_per_workflow(self) -> int:
        return self.dispatch[1] + self.first_burst[1] + sum(t for _, t in self.task_steps)


def measure_statements(tenant) -> StatementCounts:
    """Runs workflows' steps through `step_process` in this process, as a worker would (own
    transactions, nothing wrapped), with publishing switched off: no worker sees these."""
    from django.conf import settings
    from django.test import override_settings

    from workflows.models import Step, StepStatus, WorkflowInstance
    from workflows.services.instances import instance_dispatch
    from workflows.services.runner import step_process

    def run_all(instance_id, record=None):
        while True:
            step_id = (Step.objects.filter(instance_id=instance_id, status=StepStatus.PENDING)
                       .order_by("created_at").values_list("id", flat=True).first())
            if step_id is None:
                return
            outcome, statements, commits = counted(lambda s=step_id: step_process(step_id=s,
                                                                              worker="bench"))
            assert outcome == "done", outcome
            if record is not None:
                record.append((statements, commits))

    def five_tasks(record) -> WorkflowInstance:
        instance, statements, commits = counted(
            lambda: instance_dispatch(tenant=tenant, definition_id="tasks5", input={"n": 1}))
        counts.dispatch = (statements, commits)
        run_all(instance.id, record)
        finished = WorkflowInstance.objects.get(pk=instance.pk)
        assert (finished.status, finished.output) == ("finished", {"total": 6}), finished.output
        return finished

    counts = StatementCounts(continue_max=settings.WEFT_STEP_CONTINUE_MAX)
    with mock.patch("workflows.services.outbox.steps_publish"):
        # Warm caches (published definition, plans, prepared statements) like a busy worker.
        for definition_id in ("tasks5", "inline10", "inline200"):
            warm = instance_dispatch(tenant=tenant, definition_id=definition_id, input={})
            run_all(warm.id)
        with override_settings(WEFT_STEP_CONTINUE_MAX=0):
            steps: list[tuple[int, int]] = []
            five_tasks(steps)
            counts.task_step_sql = list(LAST_SQL)
            counts.first_burst, counts.task_steps = steps[0], steps[1:]
            for name in ("inline10", "inline200"):
                inline = instance_dispatch(tenant=tenant, definition_id=name, input={})
                burst: list[tuple[int, int]] = []
                run_all(inline.id, burst)
                assert len(burst) == 1, burst  # the whole workflow in one step
                setattr(counts, name, burst[0])
            counts.burst_sql = list(LAST_SQL)
        if counts.continue_max >= 5:
            continued: list[tuple[int, int]] = []
            instance = five_tasks(continued)
            assert len(continued) == 1, continued  # the whole workflow in one step_process
            counts.continued = continued[0]
            counts.continued_steps = Step.objects.filter(instance=instance).count()
    return counts


# ---- waiting -----------------------------------------------------------------------------------


TERMINAL = ("finished", "faulted", "cancelled")


STALL_SECONDS = 60


class Progress:
    """Raises when a wait ends (timeout) or stops moving (nothing finished for a while)."""

    def __init__(self, what: str, total: int, timeout: float) -> None:
        self.what, self.total = what, total
        self.deadline = time.monotonic() + timeout
        self.done, self.moved = -1, time.monotonic()

    def check(self, done: int) -> bool:
        now = time.monotonic()
        if done >= self.total:
            return True
        if done != self.done:
            self.done, self.moved = done, now
        elif now - self.moved > STALL_SECONDS:
            raise RuntimeError(f"{self.total - done} of {self.total} {self.what} stalled: none "
                               f"finished for {STALL_SECONDS} s (a lost message?)")
        if now > self.deadline:
            raise TimeoutError(f"{self.total - done} of {self.total} {self.what} did not finish "
                               "in time")
        return False


def wait_instances(ids, timeout: float, interval: float = 0.05) -> list[tuple]:
    """(id, status, finished_at, output) of every instance once all ended; raises otherwise."""
    from workflows.models import WorkflowInstance

    ended = WorkflowInstance.objects.filter(id__in=ids, status__in=TERMINAL)
    progress = Progress("workflows", len(ids), timeout)
    while not progress.check(ended.count()):
        time.sleep(interval)
    rows = list(ended.values_list("id", "status", "finished_at", "output"))
    bad = [r for r in rows if r[1] != "finished"]
    if bad:
        raise RuntimeError(f"{len(bad)} workflows ended {bad[0][1]}, e.g. {bad[0][0]}")
    return rows


def wait_chains(redis, key: str, count: int, timeout: float, interval: float = 0.05):
    """Unix times at which the last task of each of `count` chains ran."""
    progress = Progress("chains", count, timeout)
    while not progress.check(redis.llen(key)):
        time.sleep(interval)
    times = [float(v) for v in redis.lrange(key, 0, -1)]
    redis.delete(key)
    return times


def wait_queue_idle(client, url: str, timeout: float = 20) -> str:
    """Until the queue holds no message (visible or in flight), so that runs do not overlap.
    Returns "" or, after `timeout`, what is left (the run goes on; the report says so)."""
    deadline = time.monotonic() + timeout
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    while True:
        counts = client.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
        if not any(int(counts.get(n, 0)) for n in names):
            return ""
        if time.monotonic() > deadline:
            left = (f"{counts.get(names[0])} visible and {counts.get(names[1])} in-flight "
                    f"messages left in the queue {timeout:.0f} s after a run")
            log(f"warning: {left}")
            return left
        time.sleep(0.1)


# ---- (a) latency and (b) throughput ------------------------------------------------------------


class Sides:
    """Starting and timing work on either side."""

    def __init__(self, tenant, redis, args, run_id: str) -> None:
        from bench.tasks import noop

        self.tenant = tenant
        self.redis = redis
        self.args = args
        self.noop = noop
        self.run_id = run_id

    def _key(self) -> str:
        return f"weft-bench:{self.run_id}{uuid.uuid4().hex[:8]}"

    def _chain(self, tasks: int, key: str):
        from celery import chain

        return chain(*[self.noop.si() for _ in range(tasks - 1)], self.noop.si(key))

    # (a)
    def weft_latency(self, timeout: float) -> float:
        from workflows.services.instances import instance_dispatch

        started = time.time()
        instance = instance_dispatch(tenant=self.tenant, definition_id="latency", input={})
        [(_, _, finished_at, output)] = wait_instances([instance.id], timeout, interval=0.01)
        assert output == {"i": self.args.latency_steps - 1}, output
        return finished_at.timestamp() - started

    def chain_latency(self, timeout: float) -> float:
        key = self._key()
        started = time.time()
        self._chain(self.args.latency_steps, key).apply_async()
        [finished] = wait_chains(self.redis, key, 1, timeout, interval=0.01)
        return finished - started

    # (b)
    def weft_throughput(self, timeout: float, count: int = 0, steps: int = 0,
                        definition_id: str = "tasks") -> dict:
        from workflows.services.instances import instance_dispatch

        count = count or self.args.throughput_count
        steps = steps or self.args.throughput_steps
        started = time.time()
        ids = [instance_dispatch(tenant=self.tenant, definition_id=definition_id,
                                 input={"n": n}).id
               for n in range(count)]
        sent = time.time()
        rows = wait_instances(ids, timeout, interval=0.25)
        position = {instance_id: n for n, instance_id in enumerate(ids)}
        wrong = [r for r in rows if r[3] != {"total": position[r[0]] + steps}]
        if wrong:
            raise RuntimeError(f"{len(wrong)} workflows computed a wrong total, e.g. {wrong[0]}")
        elapsed = max(r[2].timestamp() for r in rows) - started
        return {"elapsed": elapsed, "rate": count / elapsed, "send": sent - started, "ids": ids,
                "started": started}

    def chain_throughput(self, timeout: float) -> dict:
        count, steps = self.args.throughput_count, self.args.throughput_steps
        key = self._key()
        started = time.time()
        for _ in range(count):
            self._chain(steps, key).apply_async()
        sent = time.time()
        times = wait_chains(self.redis, key, count, timeout, interval=0.25)
        elapsed = max(times) - started
        return {"elapsed": elapsed, "rate": count / elapsed, "send": sent - started,
                "started": started}


def step_profile(ids) -> dict:
    """Where a throughput run's workflow time went, from the steps' own timestamps."""
    from workflows.models import Step

    rows = list(Step.objects.filter(instance_id__in=ids).values_list(
        "kind", "published_at", "started_at", "finished_at", "publish_count", "deliveries"))
    waits = [(s - p).total_seconds() for _, p, s, _, _, _ in rows if p and s] or [0.0, 0.0]
    runs = [(f - s).total_seconds() for _, _, s, f, _, _ in rows if s and f]
    return {
        "messages_per_workflow": sum(r[4] for r in rows) / len(ids),
        "steps_per_workflow": len(rows) / len(ids),
        "redeliveries": sum(max(0, r[5] - 1) for r in rows),
        "continued": sum(1 for r in rows if r[4] == 0) / len(rows),
        "wait_median_ms": 1000 * statistics.median(waits),
        "wait_p90_ms": 1000 * statistics.quantiles(waits, n=10)[-1],
        "run_median_ms": 1000 * statistics.median(runs),
        "run_p90_ms": 1000 * statistics.quantiles(runs, n=10)[-1],
    }


# ---- task run times from the workers' logs -----------------------------------------------------

_SUCCEEDED = re.compile(r'"event": "Task ([\w.]+)\[[^]]+\] succeeded in ([\d.e-]+)s.*'
                        r'"timestamp": "([^"]+)"')


def task_runtimes(log_paths, task: str, start: float, end: float) -> list[float]:
    """Celery's "succeeded in" times (the task in the pool child, including what it sends on:
    a chain's next task, a step's next message) of `task` logged between start and end."""
    found = []
    for path in log_paths:
        with contextlib.suppress(OSError), open(path, errors="replace") as log:
            for line in log:
                match = _SUCCEEDED.search(line)
                if not match or match.group(1) != task:
                    continue
                stamp = datetime.fromisoformat(match.group(3).replace("Z", "+00:00")).timestamp()
                if start <= stamp <= end:
                    found.append(float(match.group(2)))
    return found


# ---- CPU by component ----------------------------------------------------------------------------


class CpuMeter:
    """CPU seconds used by each component, read from /proc: the workers (every process of their
    sessions), the SQS server, PostgreSQL's processes, Redis, and this process (dispatching,
    sending, polling). With few cores, this shows which component a run is waiting for."""

    def __init__(self, sessions: dict[str, list[int]]) -> None:
        self.sessions = {sid: name for name, sids in sessions.items() for sid in sids}
        self.tick = os.sysconf("SC_CLK_TCK")

    def sample(self) -> dict[int, tuple[str, float]]:
        """{pid: (component, CPU seconds so far)} of the processes of interest."""
        found: dict[int, tuple[str, float]] = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                data = (entry / "stat").read_text()
            except OSError:
                continue
            comm = data[data.index("(") + 1:data.rindex(")")]
            fields = data[data.rindex(")") + 2:].split()
            session, cpu = int(fields[3]), (int(fields[11]) + int(fields[12])) / self.tick
            pid = int(entry.name)
            if pid == os.getpid():
                name = "bench process"
            elif session in self.sessions:
                name = self.sessions[session]
            elif comm.startswith("postgres"):
                name = "postgresql"
            elif comm.startswith("redis"):
                name = "redis"
            else:
                continue
            found[pid] = (name, cpu)
        return found

    @staticmethod
    def machine() -> tuple[float, float]:
        """(busy, total) CPU time of the whole machine so far, every process included."""
        values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
        return sum(values) - idle, sum(values)

    @staticmethod
    def delta(before: dict, after: dict) -> dict[str, float]:
        """CPU seconds per component between two samples (a process that exited in between
        is not counted; one that started is counted in full)."""
        used: dict[str, float] = {}
        for pid, (name, cpu) in after.items():
            earlier = before.get(pid)
            spent = cpu - earlier[1] if earlier and earlier[0] == name else cpu
            used[name] = used.get(name, 0.0) + max(0.0, spent)
        return used


# ---- the DBOS peer ------------------------------------------------------------------------------


def measured(meter: CpuMeter, work) -> dict:
    """work()'s result with the CPU each component used meanwhile."""
    before, window, machine = meter.sample(), time.monotonic(), meter.machine()
    result = work()
    result["cpu"] = CpuMeter.delta(before, meter.sample())
    result["window"] = time.monotonic() - window
    busy, total = (a - b for a, b in zip(meter.machine(), machine, strict=True))
    result["machine_busy"] = busy / total
    return result


def run_peer(args, report, sides, meter, env, remaining, processes: list):
    """DBOS Transact on the same PostgreSQL server, the same shapes, alternating with Weft.
    Returns the driver (closed by the caller); executors are appended to `processes`."""
    from bench.dbos_peer import DbosPeer

    report.peer_load_before = " ".join(f"{v:.2f}" for v in os.getloadavg())
    recreate_database(args.pg, args.peer_database)
    url = f"{args.pg.rstrip('/')}/{args.peer_database}"
    log(f"peer: DBOS, {args.dbos_executors} executors on database {args.peer_database}")
    # The driver first: it creates DBOS's schema before the executors race to.
    peer = DbosPeer(url, args.dbos_polling_interval, args.dbos_worker_concurrency)
    command = [sys.executable, "-m", "bench.dbos_peer", "--database-url", url,
               "--polling-interval", str(args.dbos_polling_interval)]
    if args.dbos_worker_concurrency:
        command += ["--worker-concurrency", str(args.dbos_worker_concurrency)]
    for n in range(args.dbos_executors):
        log_file = open(LOG_DIR / f"dbos{n}.log", "w")  # noqa: SIM115 (closed with the process)
        processes.append(subprocess.Popen(  # our own command line
            [*command, "--executor", f"bench-dbos-{n}"], cwd=REPO, env=env,
            stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True))
    deadline = time.monotonic() + 60
    while not all("ready" in (LOG_DIR / f"dbos{n}.log").read_text()
                  for n in range(args.dbos_executors)):
        if time.monotonic() > deadline or any(p.poll() is not None for p in processes):
            raise RuntimeError(f"DBOS executors did not start: see {LOG_DIR}/dbos*.log")
        time.sleep(0.2)
    meter.sessions.update({p.pid: "dbos executors" for p in processes})
    for _ in range(args.workers * 2):  # warm both sides' connections and code
        peer.latency(args.latency_steps, timeout=30)
    log(f"peer (a) latency: {args.latency_runs} x {args.latency_steps} steps, DBOS")
    for _ in range(args.latency_runs):
        report.dbos_latencies.append(peer.latency(args.latency_steps, timeout=30))
    for steps in peer_steps(args):
        runs = report.peer_runs.setdefault(steps, {"weft": [], "dbos": []})
        log(f"peer throughput: {args.peer_runs} x {args.peer_count} x {steps} steps per side")
        for n in range(args.peer_runs):
            for side in (("weft", "dbos") if n % 2 == 0 else ("dbos", "weft")):
                if side == "weft":
                    result = measured(meter, lambda s=steps: sides.weft_throughput(
                        timeout=remaining(), count=args.peer_count, steps=s,
                        definition_id=f"peer{s}"))
                    result.pop("ids", None)
                else:
                    result = measured(meter, lambda s=steps: peer.throughput(
                        args.peer_count, s, timeout=remaining()))
                runs[side].append(result)
                log(f"  {side}: {result['rate']:.1f}/s in {result['elapsed']:.1f} s")
    return peer


def scale_workers(args, report, sides, workers: list, start_workers, server, remaining) -> None:
    """Restart Weft with --scale-workers processes and repeat the peer shapes, Weft only."""
    from tests.e2e.support.workers import stop_worker

    for worker in workers:
        stop_worker(worker, signal.SIGTERM, timeout=8)
    workers.clear()
    # A long poll a stopped worker left open still takes the next message it finds (moto
    # serves it to the closed connection), which then stays invisible for the visibility
    # timeout: let every such poll expire first.
    log(f"waiting {args.wait_time + 2} s for the stopped workers' long polls to expire")
    time.sleep(args.wait_time + 2)
    start_workers(args.scale_workers)
    meter = CpuMeter({"workers": [w.pid for w in workers], "sqs server": [server.process.pid]})
    for _ in range(args.scale_workers * args.concurrency):
        sides.weft_latency(timeout=30)
    log(f"scaling: Weft with {args.scale_workers} worker processes")
    for steps in peer_steps(args):
        for _ in range(args.peer_runs):
            result = measured(meter, lambda s=steps: sides.weft_throughput(
                timeout=remaining(), count=args.peer_count, steps=s, definition_id=f"peer{s}"))
            result.pop("ids", None)
            report.scale_runs.setdefault(steps, []).append(result)
            log(f"  weft x{args.scale_workers} workers, {args.peer_count} x {steps}: "
                f"{result['rate']:.1f}/s")


# ---- the run -----------------------------------------------------------------------------------


class Deadline(Exception):
    pass


def _on_alarm(signum, frame):
    raise Deadline("the benchmark ran out of time (--max-seconds)")


@dataclass
class Report:
    args: argparse.Namespace
    machine: dict
    started: datetime
    statements: StatementCounts | None = None
    weft_latencies: list[float] = field(default_factory=list)
    chain_latencies: list[float] = field(default_factory=list)
    weft_runs: list[dict] = field(default_factory=list)
    chain_runs: list[dict] = field(default_factory=list)
    profiles: list[dict] = field(default_factory=list)
    duration: float = 0.0
    setup: float = 0.0
    load_before: str = ""
    warnings: list[str] = field(default_factory=list)
    # the DBOS peer: (a) latencies; (b)/(c) {steps: {"weft": [runs], "dbos": [runs]}}
    dbos_latencies: list[float] = field(default_factory=list)
    peer_runs: dict[int, dict[str, list[dict]]] = field(default_factory=dict)
    peer_load_before: str = ""
    # --scale-workers: {steps: [Weft runs with N worker processes]}
    scale_runs: dict[int, list[dict]] = field(default_factory=dict)


def log(message: str) -> None:
    print(f"[bench.distributed {time.strftime('%H:%M:%S')}] {message}", flush=True)


def run(args) -> Report:
    from tests.e2e.support.fixtures import ensure_test_queues, sqs_client
    from tests.e2e.support.workers import start_celery_worker, stop_worker, wait_for_log
    from workflows.sqs.local_server import LocalSqsServer

    began = time.monotonic()

    def remaining() -> float:
        return max(5.0, args.max_seconds - 20 - (time.monotonic() - began))

    LOG_DIR.mkdir(exist_ok=True)
    redis = redis_client(args.redis)
    report = Report(args=args, machine=machine_info(args.pg), started=datetime.now(tz=UTC),
                    load_before=" ".join(f"{v:.2f}" for v in os.getloadavg()))
    database_url = f"{args.pg.rstrip('/')}/{args.database}"
    prefix = f"bench-{uuid.uuid4().hex[:6]}-"
    server = None
    workers: list = []
    created = False
    peer, peer_created, peer_processes = None, False, []
    try:
        recreate_database(args.pg, args.database)
        created = True
        server = LocalSqsServer(log_path=LOG_DIR / f"moto-{prefix.rstrip('-')}.log").start()
        env = bench_env(args, server.url, database_url, prefix)
        log(f"database {args.database}, SQS {server.url}, queue prefix {prefix}; migrating")
        migrate(env)
        setup_django(env)
        queues = ensure_test_queues(env)
        from django.conf import settings

        queue_url = queues[settings.WEFT_SQS.sqs_queue()]
        tenant = publish_definitions(args)

        log("(c) SQL statements per step, in-process")
        report.statements = measure_statements(tenant)

        def start_workers(count: int) -> None:
            log(f"starting {count} workers (prefork -c {args.concurrency}); logs in {LOG_DIR}")
            for n in range(count):
                workers.append(start_celery_worker(
                    env, concurrency=args.concurrency, loglevel=args.log_level,
                    hostname=f"bench{n}x{count}-{prefix.rstrip('-')}@%h",
                    log_path=LOG_DIR / f"worker{n}x{count}-{prefix.rstrip('-')}.log",
                    extra_args=("--include", "bench.tasks"), wait_ready=False))
            for worker in workers:
                wait_for_log(worker, " ready.", timeout=60)

        start_workers(args.workers)
        report.setup = time.monotonic() - began

        sides = Sides(tenant, redis, args, run_id=prefix)
        meter = CpuMeter({"workers": [w.pid for w in workers],
                          "sqs server": [server.process.pid]})
        # Warm every worker child: plans, connections, imports, the SQS clients.
        for _ in range(args.workers * args.concurrency):
            sides.weft_latency(timeout=30)
            sides.chain_latency(timeout=30)
        wait_queue_idle(sqs_client(env), queue_url)

        log(f"(a) latency: {args.latency_runs} x {args.latency_steps} steps per side")
        for _ in range(args.latency_runs):
            report.weft_latencies.append(sides.weft_latency(timeout=30))
            report.chain_latencies.append(sides.chain_latency(timeout=60))

        log(f"(b) throughput: {args.throughput_runs} x {args.throughput_count} x "
            f"{args.throughput_steps} steps per side, alternating")
        pair_started = time.monotonic()
        for n in range(args.throughput_runs):
            if n and time.monotonic() - began + (time.monotonic() - pair_started) / n > \
                    args.budget:
                log(f"  stopping after {n} run(s) per side: another would pass --budget")
                break
            order = ("weft", "chain") if n % 2 == 0 else ("chain", "weft")
            for side in order:
                left = wait_queue_idle(sqs_client(env), queue_url)
                if left:
                    report.warnings.append(left)
                before, window, machine = meter.sample(), time.monotonic(), meter.machine()
                if side == "weft":
                    result = sides.weft_throughput(timeout=remaining())
                else:
                    result = sides.chain_throughput(timeout=remaining())
                result["cpu"] = CpuMeter.delta(before, meter.sample())
                result["window"] = time.monotonic() - window
                busy, total = (a - b for a, b in zip(meter.machine(), machine, strict=True))
                result["machine_busy"] = busy / total
                result["task_times"] = task_runtimes(
                    [w.log_path for w in workers], "weft.run_step" if side == "weft"
                    else "bench.noop", result["started"], time.time())
                if side == "weft":
                    report.profiles.append(step_profile(result.pop("ids")))
                    report.weft_runs.append(result)
                else:
                    report.chain_runs.append(result)
                log(f"  {side}: {result['rate']:.1f}/s in {result['elapsed']:.1f} s")
        if not args.no_peer:
            peer_created = True
            peer = run_peer(args, report, sides, meter, env, remaining, peer_processes)
        if args.scale_workers:
            try:
                scale_workers(args, report, sides, workers, start_workers, server, remaining)
            except (RuntimeError, TimeoutError) as exc:
                report.warnings.append(f"the --scale-workers {args.scale_workers} phase "
                                       f"failed: {exc}")
                log(f"warning: {report.warnings[-1]}")
        report.duration = time.monotonic() - began
        return report
    finally:
        if peer is not None:
            with contextlib.suppress(Exception):
                peer.close()
        for process in peer_processes:
            with contextlib.suppress(Exception):
                process.terminate()
                process.wait(timeout=10)
            with contextlib.suppress(Exception):
                process.kill()
        if peer_created:
            with contextlib.suppress(Exception):
                drop_database(args.pg, args.peer_database)
        for worker in workers:
            with contextlib.suppress(Exception):
                stop_worker(worker, signal.SIGTERM, timeout=8)
        if server is not None:
            with contextlib.suppress(Exception):
                server.kill()
        with contextlib.suppress(Exception):
            from django.db import connections

            connections.close_all()
        with contextlib.suppress(Exception):
            for key in redis.scan_iter(f"weft-bench:{prefix}*"):
                redis.delete(key)
        with contextlib.suppress(Exception):
            redis.close()
        if created:
            drop_database(args.pg, args.database)


# ---- output ------------------------------------------------------------------------------------


def _verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def sql_outline(statements: list[str]) -> str:
    """"UPDATE workflows_step, SELECT ... FOR UPDATE workflows_workflowinstance, ..." """
    outline = []
    for sql in statements:
        verb = sql.split(None, 1)[0].upper() if sql.strip() else "?"
        table = re.search(r'(?:FROM|INTO|UPDATE)\s+"?(\w+)"?', sql, re.IGNORECASE)
        lock = " FOR UPDATE" if verb == "SELECT" and "FOR UPDATE" in sql.upper() else ""
        outline.append(f"{verb}{lock} {table.group(1) if table else ''}".strip())
    return ", ".join(outline)


def figures_markdown(report: Report) -> str:
    args, c = report.args, report.statements
    weft_lat = statistics.median(report.weft_latencies)
    chain_lat = statistics.median(report.chain_latencies)
    lat_ratio = weft_lat / chain_lat
    weft_rate = statistics.median(r["rate"] for r in report.weft_runs)
    chain_rate = statistics.median(r["rate"] for r in report.chain_runs)
    rate_ratio = weft_rate / chain_rate
    n, s = args.throughput_count, args.throughput_steps
    lines = [
        "| measure | Weft | Celery chain | Weft / chain | target |",
        "| --- | --- | --- | --- | --- |",
        f"| (a) latency, {args.latency_steps} steps, dispatch/send to done (median of "
        f"{len(report.weft_latencies)}) | {weft_lat * 1000:.0f} ms | {chain_lat * 1000:.0f} ms | "
        f"{lat_ratio:.3f} | <= {LATENCY_TARGET} ({_verdict(lat_ratio <= LATENCY_TARGET)}) |",
        f"| (b) throughput, {n} x {s} sequential task steps (median of "
        f"{len(report.weft_runs)}) | {weft_rate:.1f} workflows/s | {chain_rate:.1f} chains/s | "
        f"{rate_ratio:.2f} | >= {THROUGHPUT_TARGET} "
        f"({_verdict(rate_ratio >= THROUGHPUT_TARGET)}) |",
    ]
    if c is not None:
        task_max = c.task_step_max
        lines += [
            f"| (c) SQL statements per task step arriving as its own message (max of "
            f"{len(c.task_steps)}) | {task_max} (+ BEGIN/COMMIT of "
            f"{max(t for _, t in c.task_steps)} transaction) | | | <= "
            f"{TASK_STEP_STATEMENTS_TARGET} "
            f"({_verdict(task_max <= TASK_STEP_STATEMENTS_TARGET)}) |",
            f"| (c) SQL statements per step the worker continues with (5-task workflow in one "
            f"message: {c.continued[0]} statements, {c.continued_steps} steps, one claim) | "
            f"{c.per_continued_step:.1f} | | | <= {TASK_STEP_STATEMENTS_TARGET} "
            f"({_verdict(c.per_continued_step <= TASK_STEP_STATEMENTS_TARGET)}) |"
            if c.continued_steps else
            "| (c) SQL statements per step the worker continues with | not measured "
            "(WEFT_STEP_CONTINUE_MAX < 5) | | | |",
            f"| (c) SQL statements per inline step (burst of 200 minus burst of 10, / 190) | "
            f"{c.per_inline_step:.3f} ({c.inline10[0]} vs {c.inline200[0]} per burst) | | | ~0 "
            f"({_verdict(c.inline200[0] == c.inline10[0])}) |",
        ]
    return "\n".join(lines)


PEER_LATENCY_TARGET = 0.5  # weft / dbos, at most
PEER_THROUGHPUT_TARGET = 0.75  # weft / dbos, at least


def _cpu_ms(runs: list[dict], component: str, per: int) -> float:
    return statistics.median(r["cpu"].get(component, 0.0) for r in runs) / per * 1000


def _spread(runs: list[dict]) -> str:
    return ", ".join(f"{r['rate']:.1f}" for r in runs)


def peer_markdown(report: Report) -> str:
    """Weft against DBOS Transact, same shapes, same run; with the Celery ratios beside."""
    args = report.args
    if not report.dbos_latencies:
        return "DBOS peer: not run (--no-peer)."
    weft_lat = statistics.median(report.weft_latencies)
    dbos_lat = statistics.median(report.dbos_latencies)
    chain_lat = statistics.median(report.chain_latencies)
    celery_rate = (statistics.median(r["rate"] for r in report.weft_runs)
                   / statistics.median(r["rate"] for r in report.chain_runs))
    lat_ratio = weft_lat / dbos_lat
    lines = [
        "| shape | Weft | DBOS | Weft / DBOS | target | Weft / Celery chain (this run) |",
        "| --- | --- | --- | --- | --- | --- |",
        f"| (a) latency, one workflow of {args.latency_steps} trivial steps (median of "
        f"{len(report.dbos_latencies)}) | {weft_lat * 1000:.0f} ms | {dbos_lat * 1000:.0f} ms | "
        f"{lat_ratio:.2f} | <= {PEER_LATENCY_TARGET} "
        f"({_verdict(lat_ratio <= PEER_LATENCY_TARGET)}) | {weft_lat / chain_lat:.3f} |",
    ]
    for label, steps in zip("bcdefg", sorted(report.peer_runs), strict=False):
        runs = report.peer_runs[steps]
        weft = statistics.median(r["rate"] for r in runs["weft"])
        dbos = statistics.median(r["rate"] for r in runs["dbos"])
        ratio = weft / dbos
        celery = (f"{celery_rate:.2f} ({args.throughput_count} x {args.throughput_steps})"
                  if steps == args.throughput_steps else "-")
        lines.append(
            f"| ({label}) throughput, {args.peer_count} workflows x {steps} task steps started "
            f"at once (median of {len(runs['weft'])}; runs {_spread(runs['weft'])} / "
            f"{_spread(runs['dbos'])}) | {weft:.1f} workflows/s | {dbos:.1f} workflows/s | "
            f"{ratio:.2f} | >= {PEER_THROUGHPUT_TARGET} "
            f"({_verdict(ratio >= PEER_THROUGHPUT_TARGET)}) | {celery} |")
    lines += ["", "CPU per workflow and per task step during the peer throughput runs (medians; "
              "workers: every process of Weft's Celery workers; DBOS executors: their "
              "processes; the driver's own CPU, enqueueing and polling, is the bench "
              "process):", "",
              "| shape | Weft workers ms/workflow | ms/task step | SQS server ms/workflow | "
              "DBOS executors ms/workflow | ms/task step | PostgreSQL ms/workflow Weft / DBOS "
              "(every backend, others' included) |",
              "| --- | --- | --- | --- | --- | --- | --- |"]
    count = args.peer_count
    for steps in sorted(report.peer_runs):
        runs = report.peer_runs[steps]
        w = _cpu_ms(runs["weft"], "workers", count)
        d = _cpu_ms(runs["dbos"], "dbos executors", count)
        lines.append(
            f"| {count} x {steps} | {w:.1f} | {w / steps:.1f} | "
            f"{_cpu_ms(runs['weft'], 'sqs server', count):.1f} | {d:.1f} | {d / steps:.1f} | "
            f"{_cpu_ms(runs['weft'], 'postgresql', count):.1f} / "
            f"{_cpu_ms(runs['dbos'], 'postgresql', count):.1f} |")
    lines += ["", f"Load average before the peer runs: {report.peer_load_before}.", "",
              "The work on each side: (a) Weft: a `Sequence` of "
              f"{args.latency_steps - 1} `SetVariable` and one `SetOutput` run inline by one "
              f"worker (one step record, the journal written once); DBOS: `count_up`, "
              f"{args.latency_steps} `@DBOS.step()` increments, each checkpointed. (b)/(c) "
              "Weft: a `Sequence` of k `examples.add` task activities (each a durable step "
              "record) and a `SetOutput`, dispatched with `instance_dispatch`; DBOS: `add_up`, "
              "k `@DBOS.step()` additions, enqueued with `Queue.enqueue`. Both check every "
              "total (n + k). Timing from the first dispatch/enqueue to the last workflow's "
              "own end record (`finished_at`; `workflow_status.updated_at`).", "",
              "Settings: Weft: " + settings_summary(args) + ". DBOS: "
              + dbos_settings(args) + "."]
    if report.scale_runs:
        lines += ["", f"Scaling (Weft only, `--scale-workers {args.scale_workers}`): the peer "
                  "throughput shapes again after restarting the workers:", "",
                  f"| shape | {args.workers} worker processes | {args.scale_workers} worker "
                  "processes | ratio | workers CPU ms/workflow (2 / N) | machine busy (2 / N) |",
                  "| --- | --- | --- | --- | --- | --- |"]
        for steps, scaled in sorted(report.scale_runs.items()):
            base = report.peer_runs.get(steps, {}).get("weft", [])
            if not base:
                continue
            b = statistics.median(r["rate"] for r in base)
            n = statistics.median(r["rate"] for r in scaled)
            lines.append(
                f"| {count} x {steps} | {b:.1f}/s | {n:.1f}/s | {n / b:.2f} | "
                f"{_cpu_ms(base, 'workers', count):.1f} / {_cpu_ms(scaled, 'workers', count):.1f}"
                f" | {statistics.median(r['machine_busy'] for r in base) * 100:.0f}% / "
                f"{statistics.median(r['machine_busy'] for r in scaled) * 100:.0f}% |")
    return "\n".join(lines)


def dbos_settings(args) -> str:
    from bench.dbos_peer import settings_summary as dbos_summary

    return dbos_summary(args)


def details_markdown(report: Report) -> str:
    args, c = report.args, report.statements
    out = [f"Load average before the run: {report.load_before} (other sessions' processes share "
           "this machine; see \"machine busy\" below).", ""]
    out += [f"Warning: {w}." for w in report.warnings]
    out += ["Each run:", ""]
    out.append("- (a) Weft latency (ms): "
               + ", ".join(f"{v * 1000:.0f}" for v in report.weft_latencies))
    out.append("- (a) chain latency (ms): "
               + ", ".join(f"{v * 1000:.0f}" for v in report.chain_latencies))
    for name, runs, unit in (("Weft", report.weft_runs, "workflows"),
                             ("chain", report.chain_runs, "chains")):
        out.append(f"- (b) {name}: " + "; ".join(
            f"{r['elapsed']:.1f} s = {r['rate']:.1f} {unit}/s (sending took {r['send']:.1f} s)"
            for r in runs))
    if c is not None:
        out.append(f"- (c) one message per step (WEFT_STEP_CONTINUE_MAX=0): task steps "
                   f"{[s for s, _ in c.task_steps]} statements, each in "
                   f"{[t for _, t in c.task_steps]} transaction(s) (the claim UPDATE is an "
                   f"autocommit statement of its own); dispatch {c.dispatch[0]} "
                   f"(+{c.dispatch[1]} tx); first burst (start to the first task) "
                   f"{c.first_burst[0]} (+{c.first_burst[1]} tx); a whole 5-task workflow "
                   f"{c.per_workflow} statements in {c.transactions_per_workflow} transactions. "
                   f"Continued (WEFT_STEP_CONTINUE_MAX={c.continue_max}, the workers' "
                   f"setting): the {c.continued_steps} steps after the dispatch in one "
                   f"`step_process`: {c.continued[0]} statements in {c.continued[1]} transactions. "
                   "BEGIN/COMMIT are not counted as statements")
        out.append(f"- (c) a task step's statements: {sql_outline(c.task_step_sql)}; an inline "
                   f"burst's: {sql_outline(c.burst_sql)}")
    out += ["", cpu_markdown(report)]
    times = [[t for r in runs for t in r.get("task_times", [])]
             for runs in (report.weft_runs, report.chain_runs)]
    if all(times):
        slots = args.workers * args.concurrency
        busy = [statistics.median(sum(r["task_times"]) / (r["elapsed"] * slots) for r in runs)
                for runs in (report.weft_runs, report.chain_runs)]
        out += ["", "Time in the pool child per message during (b) (Celery's \"succeeded in\": "
                "the no-op, or the Weft step and the steps the worker continues with, "
                "including sending the next message), ms: Weft "
                f"p50 {1000 * statistics.median(times[0]):.1f} / p90 "
                f"{1000 * statistics.quantiles(times[0], n=10)[-1]:.1f} "
                f"(n={len(times[0])}); chain no-op p50 {1000 * statistics.median(times[1]):.1f}"
                f" / p90 {1000 * statistics.quantiles(times[1], n=10)[-1]:.1f} "
                f"(n={len(times[1])}). Pool children busy: {busy[0] * 100:.0f}% (Weft) vs "
                f"{busy[1] * 100:.0f}% (chain) of {slots} children x the run."]
    if report.profiles:
        p = report.profiles
        msgs = statistics.median(x["messages_per_workflow"] for x in p)
        out += [
            "",
            "Where a Weft throughput run's time goes (from the steps' timestamps, median over "
            "runs):",
            "",
            f"- SQS messages per workflow: {msgs:.1f} vs {args.throughput_steps} per chain; "
            f"steps per workflow {statistics.median(x['steps_per_workflow'] for x in p):.1f} "
            f"(a RUN step from the dispatch, then one per task), of which "
            f"{statistics.median(x['continued'] for x in p) * 100:.0f}% were run by the worker "
            f"that wrote them, without a message; redelivered steps: "
            f"{sum(x['redeliveries'] for x in p)}",
            f"- publish to claim of published steps (queue wait, fetch pacing): median "
            f"{statistics.median(x['wait_median_ms'] for x in p):.0f} ms, p90 "
            f"{statistics.median(x['wait_p90_ms'] for x in p):.0f} ms",
            f"- claim to `finished_at` (claim, instance lock, engine, the task; the writes, "
            f"COMMIT and the next message come after): median "
            f"{statistics.median(x['run_median_ms'] for x in p):.1f} ms, p90 "
            f"{statistics.median(x['run_p90_ms'] for x in p):.1f} ms",
        ]
    return "\n".join(out)


def cpu_markdown(report: Report) -> str:
    """CPU milliseconds per workflow / per chain by component, medians over the runs."""
    count = report.args.throughput_count
    nproc = int(report.machine["nproc"])
    names = ["workers", "sqs server", "postgresql", "redis", "bench process"]
    rows = ["| CPU ms per workflow / per chain (b) | Weft | chain |", "| --- | --- | --- |"]
    for name in names:
        weft = statistics.median(r["cpu"].get(name, 0.0) for r in report.weft_runs)
        chain = statistics.median(r["cpu"].get(name, 0.0) for r in report.chain_runs)
        rows.append(f"| {name} | {weft / count * 1000:.1f} | {chain / count * 1000:.1f} |")
    totals = []
    for runs in (report.weft_runs, report.chain_runs):
        totals.append(statistics.median(sum(r["cpu"].values()) / count * 1000 for r in runs))
    rows.append(f"| total | {totals[0]:.1f} | {totals[1]:.1f} |")
    busy = [statistics.median(sum(r["cpu"].values()) / (r["window"] * nproc) for r in runs)
            for runs in (report.weft_runs, report.chain_runs)]
    rows.append(f"| these components' share of the machine ({nproc} CPUs, dispatch to last "
                f"done) | {busy[0] * 100:.0f}% | {busy[1] * 100:.0f}% |")
    machine = [statistics.median(r["machine_busy"] for r in runs)
               for runs in (report.weft_runs, report.chain_runs)]
    rows.append(f"| machine busy: every process and the kernel (others' included) | "
                f"{machine[0] * 100:.0f}% | {machine[1] * 100:.0f}% |")
    return "\n".join(rows)


def machine_markdown(machine: dict) -> str:
    return (f"{machine['nproc']} CPUs ({machine['cpu']}), {machine['memory']} RAM, "
            f"{machine['os']}; Python {machine['python']}, Celery {machine['celery']}, kombu "
            f"{machine['kombu']}, moto {machine['moto']} (local SQS server), Django "
            f"{machine['django']}, psycopg {machine['psycopg']}, boto3 {machine['boto3']}, "
            f"PostgreSQL {machine['postgresql']}")


ENGINE_HEADING = "## Engine (`python -m bench.engine`)"
DISTRIBUTED_HEADING = "## Distributed (`python -m bench.distributed`)"
HISTORY_HEADING = "## History"
HISTORY_HEADER = ("| date | commit | engine median exec/s | (a) weft / chain ms | (a) ratio | "
                  "(b) workflows/s / chains/s | (b) ratio | (c) task step / inline step |\n"
                  "| --- | --- | --- | --- | --- | --- | --- | --- |")


def _sections(text: str) -> dict[str, str]:
    found, current, lines = {}, None, []
    for line in text.splitlines():
        if line.startswith("## "):
            if current:
                found[current] = "\n".join(lines).strip()
            current, lines = line.strip(), []
        elif current:
            lines.append(line)
    if current:
        found[current] = "\n".join(lines).strip()
    return found


def write_results(report: Report, path: Path, engine_output: str | None) -> None:
    previous = _sections(path.read_text()) if path.exists() else {}
    date = report.started.strftime("%Y-%m-%d %H:%M UTC")
    machine = machine_markdown(report.machine)
    if engine_output:
        engine = (f"Run {date}, same machine. 10,000-iteration `While` with a `SetVariable` "
                  "body, journal on, in-process (no database, no broker):\n\n```text\n"
                  f"{engine_output.strip()}\n```")
    else:
        engine = previous.get(ENGINE_HEADING, "Not run yet: `make bench` runs it first.")
    engine_median = "-"
    if match := re.search(r"median activity executions/s: ([\d,]+)", engine):
        engine_median = match.group(1)
    distributed = "\n\n".join([
        f"Run {date}, `python -m bench.distributed` (total {report.duration:.0f} s, set-up "
        f"{report.setup:.0f} s), code at {report.machine['commit']}.",
        f"Machine: {machine}.",
        f"Settings: {settings_summary(report.args)}. Same moto server, same worker processes "
        "and same queue for both sides; Weft workflows dispatched in-process with "
        "`instance_dispatch`, chains sent with `chain(...).apply_async()`, both from this one "
        "process, one after another. Finish times are the workers' own clocks "
        "(`finished_at`; the chain's last task RPUSHes its time to Redis).",
        figures_markdown(report),
        details_markdown(report),
        "### Peer: DBOS Transact, same run",
        peer_markdown(report),
    ])
    history_rows = [line for line in previous.get(HISTORY_HEADING, "").splitlines()
                    if line.startswith("| 2")]
    c = report.statements
    wl, cl = (statistics.median(report.weft_latencies), statistics.median(report.chain_latencies))
    wr = statistics.median(r["rate"] for r in report.weft_runs)
    cr = statistics.median(r["rate"] for r in report.chain_runs)
    history_rows.append(
        f"| {date} | {report.machine['commit']} | {engine_median} | "
        f"{wl * 1000:.0f} / {cl * 1000:.0f} | {wl / cl:.3f} | "
        f"{wr:.1f} / {cr:.1f} | {wr / cr:.2f} | "
        f"{c.task_step_max if c else '-'} / {c.per_inline_step if c else 0:.2f} |")
    own = {ENGINE_HEADING, DISTRIBUTED_HEADING, HISTORY_HEADING}
    kept = [part for heading, body in previous.items() if heading not in own
            for part in (heading, body)]
    text = "\n\n".join([
        "# Benchmark results",
        "Written by `make bench` (`python -m bench.engine`, then `python -m bench.distributed`, "
        "which rewrites this file: the latest figures, one history line per run; other sections "
        "are kept as they are). Compare "
        "Weft with its baseline within one run; absolute figures depend on the machine and on "
        "the local SQS server (moto: its cost per message grows with the queue's depth; "
        "docs/sqs.md).",
        ENGINE_HEADING, engine,
        DISTRIBUTED_HEADING, distributed,
        *kept,
        HISTORY_HEADING, HISTORY_HEADER + "\n" + "\n".join(history_rows),
    ]) + "\n"
    path.write_text(text)


def main(argv=None) -> None:
    args = parse_args(argv)
    previous = signal.signal(signal.SIGALRM, _on_alarm)
    signal.alarm(args.max_seconds)
    receiver = None
    if args.tracing:
        from tests.e2e.support.otlp import OtlpReceiver

        receiver = OtlpReceiver().__enter__()
    if receiver is not None:
        args.worker_env = [*args.worker_env, f"OTEL_EXPORTER_OTLP_ENDPOINT={receiver.endpoint}"]
    try:
        report = run(args)
    except Deadline as exc:
        raise SystemExit(f"bench.distributed: {exc}; everything it started was stopped") from exc
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
        if receiver is not None:
            receiver.__exit__(None, None, None)
            print(f"\ntracing on: {len(receiver.snapshot())} spans received over OTLP/HTTP")
    print()
    print(f"Weft vs a Celery chain, one run ({report.started:%Y-%m-%d %H:%M} UTC, "
          f"{report.duration:.0f} s)")
    print(f"machine: {machine_markdown(report.machine)}; code at {report.machine['commit']}")
    print(f"settings: {settings_summary(args)}")
    print()
    print(figures_markdown(report))
    print()
    print(details_markdown(report))
    print()
    print(peer_markdown(report))
    if not args.no_results:
        engine_output = None
        if args.engine_output and args.engine_output.exists():
            engine_output = args.engine_output.read_text()
        write_results(report, args.results, engine_output)
        print(f"\nwritten: {args.results}")


if __name__ == "__main__":
    main()
