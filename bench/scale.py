"""Weft at scale: 100,000 instances and 2,000,000 journal rows (`make bench-scale`).

Run with `python -m bench.scale` (`--instances 2000 --journal 40000` for a quick run). It
creates a PostgreSQL database of its own (`--database`, dropped first if a previous run left
it, and at the end unless `--keep-database`), migrates it, and then:

1. seeds months of a busy platform with COPY (bench/scale_seed.py) and reports how long that
   takes, table by table;
2. times the list pages of the REST API and of the admin (bench/scale_measure.py): p50, p95
   and max of `--samples` requests each, with their SQL statements, against the 100 ms target;
3. starts a local SQS/S3 server (moto) and real Celery workers, keeps small workflows running,
   and runs the retention job over `--expire-archive` seeded instances with the archive on the
   local S3, then over `--expire` more without archive (bench/scale_retention.py): instances
   removed per second, the workers' throughput with and without retention, and the longest
   time anything waited on a lock that retention held.

The figures go to bench/RESULTS.md, section "## Scale: ...", under a subsection per
`--label` (a run with the same label replaces it; others are kept), with the load average,
since the machine may be shared: compare figures within one run, or runs at similar load.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

from bench.distributed import (
    LOG_DIR,
    bench_env,
    drop_database,
    machine_info,
    machine_markdown,
    migrate,
    recreate_database,
    setup_django,
    tasks_definition,
)

RESULTS = Path(__file__).resolve().with_name("RESULTS.md")
SECTION = "## Scale: 100,000 instances, 2,000,000 journal rows"
INTRO = (
    "Written by `make bench-scale` (`python -m bench.scale`, bench/scale.py): one subsection "
    "per `--label`, a rerun with the same label replaces it. Seeded with PostgreSQL COPY from "
    "rows generated in-process (columns read from the models, so schema changes need no "
    "edit); list pages timed in-process through Django's whole stack (test client: the API as "
    "a viewer with a bearer token, the admin as a superuser); retention run tick after tick "
    "in the bench process while real Celery workers run workflows. Wall-clock figures are "
    "under the load average shown: this machine is shared.")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--instances", type=int, default=100_000)
    parser.add_argument("--journal", type=int, default=2_000_000, help="journal rows in all")
    parser.add_argument("--tenants", type=int, default=4)
    parser.add_argument("--definitions", type=int, default=8, help="per tenant")
    parser.add_argument("--months", type=int, default=6, help="the seeded history")
    parser.add_argument("--audit", type=int, default=None,
                        help="audit entries (default: instances / 5)")
    parser.add_argument("--seed", type=int, default=12345)
    parser.add_argument("--samples", type=int, default=60, help="requests per list page")
    parser.add_argument("--expire", type=int, default=None,
                        help="instances expired for each retention phase (default: 20%% of "
                             "--instances, i.e. 20,000 at full size)")
    parser.add_argument("--expire-archive", type=int, default=None,
                        help="instances for the phase with archive (default: --expire / 10: "
                             "archiving to the local moto S3 is some 20x slower)")
    parser.add_argument("--load-seconds", type=float, default=40,
                        help="each load-only phase")
    parser.add_argument("--in-flight", type=int, default=16,
                        help="workflows kept started by the load")
    parser.add_argument("--workers", type=int, default=2, help="worker processes")
    parser.add_argument("--concurrency", type=int, default=2, help="prefork children each")
    parser.add_argument("--retention-max-seconds", type=float, default=1200,
                        help="a retention phase stops after this, done or not")
    parser.add_argument("--no-retention", action="store_true",
                        help="seed and measure the lists only (no SQS/S3, no workers)")
    parser.add_argument("--pg", default=os.environ.get("BENCH_PG_URL",
                                                        "postgres://postgres@127.0.0.1:5432"))
    parser.add_argument("--database", default="weft_scale_bench")
    parser.add_argument("--redis", default=os.environ.get("BENCH_REDIS_URL",
                                                           "redis://127.0.0.1:6379/12"))
    parser.add_argument("--keep-database", action="store_true",
                        help="leave the database for another look (it is large)")
    parser.add_argument("--skip-seed", action="store_true",
                        help="use the database a --keep-database run left (lists only)")
    parser.add_argument("--label", default="latest",
                        help="the subsection of RESULTS.md this run writes (e.g. before, after)")
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--no-results", action="store_true", help="do not write RESULTS.md")
    args = parser.parse_args(argv)
    if args.audit is None:
        args.audit = max(100, args.instances // 5)
    if args.expire is None:
        args.expire = max(10, args.instances // 5)
    if args.expire_archive is None:
        args.expire_archive = max(10, args.expire // 10)
    if args.skip_seed:
        args.no_retention = True
        args.keep_database = True
    return args


def log(message: str) -> None:
    print(f"[bench.scale {time.strftime('%H:%M:%S')}] {message}", flush=True)


def load_average() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def process_env(env: dict[str, str]) -> dict[str, str]:
    """What this process adds to the workers' environment: the test client's host name, no
    HTTPS redirect, and no throttling of its own requests."""
    return {**env, "ALLOWED_HOSTS": "testserver,localhost,127.0.0.1",
            "SECURE_SSL_REDIRECT": "0", "SESSION_COOKIE_SECURE": "0", "CSRF_COOKIE_SECURE": "0",
            "WEFT_THROTTLE_USER": "1000000/min", "WEFT_THROTTLE_ANON": "1000000/min"}


def seeded_from_database(args):
    """The Seeded description of a database a previous run left (--skip-seed)."""
    from bench.scale_seed import LONG_JOURNAL, DefinitionInfo, Seeded, definition_body
    from workflows.models import JournalEntry, Tenant, WorkflowDefinition, WorkflowInstance

    seeded = Seeded()
    tenants = list(Tenant.objects.filter(slug__startswith="scale-t").order_by("slug")
                   .values_list("pk", "slug"))
    seeded.tenants = tenants
    for t, (pk, _) in enumerate(tenants):
        ids = sorted(set(WorkflowDefinition.objects.filter(tenant_id=pk)
                         .values_list("definition_id", flat=True)))
        for definition_id in ids:
            versions = list(WorkflowDefinition.objects.filter(
                tenant_id=pk, definition_id=definition_id).order_by("version")
                .values_list("pk", "version"))
            body = definition_body(definition_id, 0)
            seeded.definitions.append(DefinitionInfo(
                tenant=t, definition_id=definition_id, versions=versions,
                activities=[(a["id"], a["type"]) for a in body["root"]["activities"]]))
    big = tenants[0][0]
    sample = list(WorkflowInstance.objects.filter(tenant_id=big).order_by("?")
                  .values_list("id", flat=True)[:2000])
    seeded.normal_ids = sample
    from django.db.models import Count

    seeded.long_ids = list(JournalEntry.objects.filter(instance__tenant_id=big)
                           .values("instance_id").annotate(n=Count("id"))
                           .filter(n__gte=LONG_JOURNAL[0] // 2)
                           .values_list("instance_id", flat=True)[:200])
    return seeded


def run(args) -> dict:
    from workflows.sqs.local_server import LocalSqsServer

    LOG_DIR.mkdir(exist_ok=True)
    began = time.monotonic()
    out: dict = {"started": datetime.now(tz=UTC), "load_start": load_average(),
                 "machine": machine_info(args.pg), "command": " ".join(
                     ["python -m bench.scale", *sys.argv[1:]])}
    database_url = f"{args.pg.rstrip('/')}/{args.database}"
    prefix = f"scale-{uuid.uuid4().hex[:6]}-"
    server, workers, created = None, [], False
    try:
        if not args.skip_seed:
            recreate_database(args.pg, args.database)
            created = True
        if not args.no_retention:
            server = LocalSqsServer(log_path=LOG_DIR / f"moto-{prefix.rstrip('-')}.log").start()
        options = SimpleNamespace(wait_time=1, polling_interval=0.1, prefetch=4,
                                  redis=args.redis, log_level="WARNING", worker_env=[])
        env = bench_env(options, server.url if server else "http://127.0.0.1:9", database_url,
                        prefix)
        if not args.skip_seed:
            log(f"database {args.database}: migrating")
            migrate(env)
        setup_django(process_env(env))

        from bench import scale_measure, scale_seed

        if args.skip_seed:
            seeded = seeded_from_database(args)
        else:
            plan = scale_seed.SeedPlan(instances=args.instances, journal=args.journal,
                                       tenants=args.tenants, definitions=args.definitions,
                                       months=args.months, audit=args.audit, seed=args.seed)
            out["seed_load"] = load_average()
            log(f"seeding {args.instances:,} instances, {args.journal:,} journal rows "
                f"(load average {out['seed_load']})")
            seeded = scale_seed.seed(plan, log=lambda m: log(f"  {m}"))
            log(f"seeded in {seeded.total_seconds:.0f} s")
        out["seeded"] = seeded
        out["sizes"] = table_sizes()

        out["lists_load"] = load_average()
        log(f"list pages: {args.samples} samples each (load average {out['lists_load']})")
        out["lists"] = scale_measure.measure_lists(seeded, samples=args.samples,
                                                   log=lambda m: log(m))
        out["lists_load_end"] = load_average()
        print(scale_measure.markdown(out["lists"]), flush=True)

        if not args.no_retention:
            from bench.scale_retention import markdown

            out["retention"] = retention(args, env, server, seeded, workers, prefix)
            print(markdown(out["retention"], with_load=True), flush=True)
        out["duration"] = time.monotonic() - began
        return out
    finally:
        from tests.e2e.support.workers import stop_worker

        for worker in workers:
            with contextlib.suppress(Exception):
                stop_worker(worker, signal.SIGTERM, timeout=8)
        if server is not None:
            with contextlib.suppress(Exception):
                server.kill()
        with contextlib.suppress(Exception):
            from django.db import connections

            connections.close_all()
        if created and not args.keep_database:
            drop_database(args.pg, args.database)


def table_sizes() -> dict:
    from bench.scale_seed import sizes
    from workflows.models import (
        ActivityExecution,
        AuditEntry,
        Bookmark,
        Incident,
        JournalEntry,
        Step,
        TriggerFire,
        WorkflowInstance,
    )

    return sizes([WorkflowInstance, JournalEntry, ActivityExecution, Step, Bookmark, Incident,
                  TriggerFire, AuditEntry])


def retention(args, env, server, seeded, workers: list, prefix: str):
    from bench.scale_retention import run_phases
    from tests.e2e.support.fixtures import ensure_test_queues
    from tests.e2e.support.workers import start_celery_worker, wait_for_log
    from workflows.models import Tenant
    from workflows.services.archive import archive_bucket_ensure, archive_store
    from workflows.services.definitions import definition_create, definition_publish
    from workflows.services.tenancy import tenant_member_ensure

    ensure_test_queues(env)
    store = archive_store(bucket="weft-scale-bench", prefix="archive", endpoint_url=server.url,
                          region="us-east-1", access_key_id="testing",
                          secret_access_key="testing")
    archive_bucket_ensure(store=store)
    load_tenant = tenant_member_ensure(tenant_slug="scale-load", username="scale-load",
                                       role="editor").tenant
    Tenant.objects.filter(pk=load_tenant.pk).update(retention_finished_days=3650,
                                                    retention_faulted_days=3650)
    definition_create(tenant=load_tenant, user=None, body=tasks_definition("load", 3))
    definition_publish(tenant=load_tenant, user=None, definition_id="load")
    log(f"starting {args.workers} workers (prefork -c {args.concurrency}); logs in {LOG_DIR}")
    for n in range(args.workers):
        workers.append(start_celery_worker(
            env, concurrency=args.concurrency, loglevel="INFO",
            hostname=f"scale{n}-{prefix.rstrip('-')}@%h",
            log_path=LOG_DIR / f"scale-worker{n}-{prefix.rstrip('-')}.log", wait_ready=False))
    for worker in workers:
        wait_for_log(worker, " ready.", timeout=90)
    return run_phases(
        tenant_pks=[pk for pk, _ in seeded.tenants], load_tenant=load_tenant,
        load_definition="load", store=store, expire_archive=args.expire_archive,
        expire_plain=args.expire, load_seconds=args.load_seconds, in_flight=args.in_flight,
        max_seconds=args.retention_max_seconds, log=log)


# ---- RESULTS.md --------------------------------------------------------------------------------


def seed_markdown(out: dict) -> str:
    from bench.scale_seed import human_bytes

    seeded = out["seeded"]
    if not seeded.seconds:
        return "Seeding: not run (`--skip-seed`: a database a previous run left)."
    lines = [f"Seeding took **{seeded.total_seconds:.0f} s** (load average "
             f"{out.get('seed_load', '?')} at its start; COPY of generated rows, then ANALYZE; "
             "foreign keys " + ("checked" if seeded.foreign_keys_checked else
                                "not checked row by row (session_replication_role = replica)")
             + "):", "",
             "| step | seconds | rows |", "| --- | --- | --- |"]
    labels = {f"COPY {label.split('.')[-1]}": rows for label, rows in seeded.rows.items()}
    for step, seconds in seeded.seconds.items():
        rows = labels.get(step)
        lines.append(f"| {step} | {seconds:.1f} | {f'{rows:,}' if rows is not None else ''} |")
    lines += ["", "Sizes after seeding (rows estimated by ANALYZE; bytes with indexes and "
              "TOAST" + (", partitions included" if seeded.partitions_created else "") + "): "
              + ", ".join(f"`{table}` {rows:,} rows {human_bytes(size)}"
                          for table, (rows, size) in out["sizes"].items()) + "."]
    if seeded.partitions_created:
        lines.append(f"Partitions the seeding created for old dates: "
                     f"{len(seeded.partitions_created)}.")
    return "\n".join(lines)


def subsection(args, out: dict) -> str:
    from bench import scale_measure, scale_retention

    m = out["machine"]
    started = out["started"].strftime("%Y-%m-%d %H:%M UTC")
    parts = [
        f"### {args.label}",
        f"Run {started}, code at {m['commit']}, `{out['command']}` ({out['duration']:.0f} s "
        f"in all). Load average at the start: **{out['load_start']}** (1, 5, 15 min). "
        f"Machine: {machine_markdown(m)}.",
        f"Data: {args.instances:,} instances over {args.months} months in {args.tenants} "
        f"tenants (the first has 70%; its lists are measured) and {args.definitions} "
        f"definitions each (1-3 published versions); {args.journal:,} journal rows (1% of "
        "instances are long-running, 300-1,500 entries); an activity execution per 3 journal "
        "rows; steps of the last 7 days and of active instances; bookmarks of suspended "
        "instances; an incident per faulted instance; a Cron trigger per tenant firing every "
        f"10 minutes for 30 days; {args.audit:,} audit entries. Statuses: mostly finished, "
        "about 6% faulted, 4% cancelled, 4% suspended; running and pending only in the last "
        "two days.",
        seed_markdown(out),
        f"List pages, {args.samples} requests each after one warm-up round, round-robin "
        f"(load average {out['lists_load']} at the start, {out['lists_load_end']} at the end). "
        "Pages after the first are followed through `next` links; \"SQL ms\" is the time "
        "spent in SQL statements (Django's query log) of the request:",
        scale_measure.markdown(out["lists"]),
    ]
    missed = [x for x in out["lists"] if x.times and not x.met]
    parts.append(f"{len(missed)} of {sum(1 for x in out['lists'] if x.times)} pages miss the "
                 f"100 ms p95 target" + (": " + ", ".join(f"{x.group} {x.name}" for x in missed)
                                         if missed else "") + ".")
    slowest = scale_measure.slowest_markdown(out["lists"])
    if slowest:
        parts.append("The slowest SQL statement of those pages (the most frequent one, its "
                     "median time):\n\n" + slowest)
    result = out.get("retention")
    if result is not None:
        parts += [
            f"Retention while {args.workers} worker processes x prefork {args.concurrency} run "
            f"workflows of 3 `examples.add` task steps ({result.in_flight} kept in flight, "
            "dispatched from this process): the retention job (`retention_apply`, batch "
            f"{result.batch_size}, {result.per_tick} instances per tick, ticks back to back) "
            "over the oldest ended instances of the seeded tenants, made expired by lowering "
            "their retention days; the archive on the local moto S3 "
            "(gzip JSON Lines, written, read back and verified per instance):",
            scale_retention.markdown(result, with_load=True),
            " ".join(scale_retention.summary(result, with_load=True)),
        ]
    else:
        parts.append("Retention: not run (`--no-retention`).")
    return "\n\n".join(parts)


def write_results(path: Path, label: str, text: str) -> None:
    current = path.read_text() if path.exists() else "# Benchmark results\n"
    head, found, rest = current.partition(SECTION)
    if found:
        body, sep, tail = rest.partition("\n## ")
        tail = sep + tail
    else:
        head, body, tail = current.rstrip() + "\n\n", "", ""
    kept = []
    for block in ("\n" + body).split("\n### ")[1:]:
        name = block.split("\n", 1)[0].strip()
        if name != label:
            kept.append("### " + block.strip())
    blocks = [*kept, text.strip()]
    order = {"before": 0, "after": 1}
    blocks.sort(key=lambda b: order.get(b.split("\n", 1)[0][4:].strip(), 2))
    section = "\n\n".join([SECTION, INTRO, *blocks]) + "\n"
    path.write_text(head + section + ("\n" + tail.lstrip("\n") if tail else ""))


def main(argv=None) -> None:
    args = parse_args(argv)
    out = run(args)
    text = subsection(args, out)
    print()
    print(text)
    if not args.no_results:
        write_results(args.results, args.label, text)
        print(f"\nwritten: {args.results}")


if __name__ == "__main__":
    main()
