"""Timer lateness: 1,000 Delay bookmarks due in the same second, two workers, two beats.

Run with `python -m bench.timers` (`make bench` runs it after the engine and distributed
benchmarks). It makes its own PostgreSQL database and local SQS server, creates 1,000 instances
waiting on a `Delay`, moves all their due times to the same second a few seconds ahead, starts
two `celery worker` processes and two `celery beat` processes (LockedDatabaseScheduler: one
leads), and waits until every instance finished. It reports, from that second:

- fire lateness: when the bookmark was claimed and its resume step written (`fired_at` in the
  resume step);
- resume lateness: when the instance was resumed on a worker (its journal's `resumed` entry);

and where the time between the two goes, per timer: the resume step's message sent
(`sent_at`), the step claimed by a worker (`started_at`), resumed, the step done. The CPU time
of the workers, the beats, the SQS server and the run's PostgreSQL sessions is read from
/proc, for the whole run and for the window from the due second to the last resume.

Each timer must fire exactly once; the run fails loudly otherwise. `--runs N` repeats the whole
run (fresh database, processes and queues) and reports medians and the spread.
"""

import argparse
import collections
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

from bench.distributed import (
    bench_env,
    drop_database,
    machine_info,
    migrate,
    recreate_database,
    setup_django,
)

RESULTS = Path(__file__).with_name("RESULTS.md")
SECTION = "## Timers: 1,000 Delays due in the same second"
STAGES = (
    ("fired", "fired: bookmark claimed, resume step written"),
    ("sent", "resume's message accepted by SQS"),
    ("claimed", "resume step claimed by a worker"),
    ("resumed", "instance resumed (journal `resumed`)"),
    ("done", "resume step done (instance finished)"),
)
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timers", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=1, help="whole runs; medians and spread")
    parser.add_argument("--postgres", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/13")
    parser.add_argument("--worker-env", action="append", default=[], metavar="NAME=VALUE",
                        help="extra environment of every process; repeatable")
    parser.add_argument("--no-results", action="store_true", help="do not write RESULTS.md")
    parser.add_argument("--json", type=Path, help=argparse.SUPPRESS)  # one run, for --runs
    return parser.parse_args(argv)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


def cpu_seconds(pids: list[int], *, session: bool = True) -> float:
    """utime + stime of the live processes in the sessions led by `pids` (or of `pids` only)."""
    wanted, total = set(pids), 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # after the command: state ppid pgrp session ... utime(12) stime(13)
        if (int(fields[3]) in wanted) if session else (int(entry) in wanted):
            total += int(fields[11]) + int(fields[12])
    return total / CLOCK_TICKS


def wait_for_leader(connection, *, deadline: float) -> None:
    """Until a beat of this database holds the beat lock (it has started and leads)."""
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute("SELECT EXISTS (SELECT 1 FROM pg_locks l JOIN pg_stat_activity a "
                           "USING (pid) WHERE l.locktype = 'advisory' AND l.granted "
                           "AND a.datname = current_database() "
                           "AND a.application_name LIKE 'weft-beat %%')")
            if cursor.fetchone()[0]:
                return
        time.sleep(0.1)
    raise TimeoutError("no beat leads")


def run_once(args) -> dict:
    from tests.e2e.support.fixtures import ensure_test_queues
    from tests.e2e.support.platform import start_beat, start_worker, stop_all
    from workflows.sqs.local_server import start_local_sqs

    load = os.getloadavg()
    database = f"weft_bench_timers_{uuid.uuid4().hex[:6]}"
    sqs = start_local_sqs()
    processes = []
    try:
        recreate_database(args.postgres, database)
        options = SimpleNamespace(wait_time=1, polling_interval=0.1, prefetch=4,
                                  redis=args.redis, log_level="WARNING",
                                  worker_env=args.worker_env)
        env = bench_env(options, sqs.url, f"{args.postgres}/{database}",
                        f"bt{uuid.uuid4().hex[:6]}-")
        migrate(env)
        setup_django(env)
        ensure_test_queues(env)
        from django.db import connection, connections
        from django.utils import timezone

        from workflows.models import Bookmark, JournalEntry, Step, WorkflowInstance
        from workflows.services.definitions import definition_create, definition_publish
        from workflows.services.inline import instance_execute
        from workflows.services.tenancy import tenant_member_ensure

        tenant = tenant_member_ensure(tenant_slug="bench", username="bench", role="editor",
                                      password="bench-password").tenant
        definition_create(tenant=tenant, user=None, body={
            "definition_id": "alarm", "name": "alarm",
            "root": {"type": "Sequence", "id": "main", "activities": [
                {"id": "sleep", "type": "Delay", "duration": 3600},
                {"id": "done", "type": "WriteLine", "text": "woke"}]}})
        definition_publish(tenant=tenant, user=None, definition_id="alarm")
        ids = [instance_execute(tenant=tenant, definition_id="alarm").id
               for _ in range(args.timers)]
        workers = [start_worker(env, f"timers-w{n}") for n in (1, 2)]
        beats = [start_beat(env), start_beat(env)]
        processes = workers + beats
        wait_for_leader(connection, deadline=time.monotonic() + 120)
        # Every timer due in the same second, a few seconds from now (a beat leads by then:
        # under load a beat takes longer than that to start).
        due = (timezone.now() + timedelta(seconds=4)).replace(microsecond=0)
        Bookmark.objects.filter(instance_id__in=ids).update(due_at=due)
        while timezone.now() < due:
            time.sleep(0.05)
        own = connection.cursor().connection.info.backend_pid

        def sessions() -> list[int]:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> %s",
                               [database, own])
                return [row[0] for row in cursor.fetchall()]

        def cpu() -> dict:
            return {"workers": cpu_seconds([p.pid for p in workers]),
                    "beats": cpu_seconds([p.pid for p in beats]),
                    "sqs": cpu_seconds([sqs.process.pid]),
                    "postgres": cpu_seconds(sessions(), session=False)}

        cpu_at_due = cpu()
        deadline = time.monotonic() + 300
        while WorkflowInstance.objects.filter(id__in=ids, status="finished").count() < len(ids):
            if time.monotonic() > deadline:
                raise TimeoutError("timers did not all fire within 300 s")
            time.sleep(0.2)
        cpu_at_end = cpu()
        ended = (timezone.now() - due).total_seconds()
        steps = list(Step.objects.filter(instance_id__in=ids, kind="resume")
                     .values_list("instance_id", "payload", "sent_at", "started_at",
                                  "finished_at"))
        resumed_at = dict(JournalEntry.objects.filter(instance_id__in=ids, event="resumed")
                          .values_list("instance_id", "timestamp"))
        resumed_count = JournalEntry.objects.filter(instance_id__in=ids, event="resumed").count()
        if len(steps) != len(ids) or resumed_count != len(ids) or len(resumed_at) != len(ids):
            raise AssertionError(f"{len(steps)} resume steps and {resumed_count} resumes "
                                 f"for {len(ids)} timers: not exactly once")

        def late(moment) -> float:
            return (moment - due).total_seconds()

        stages = {name: [] for name, _ in STAGES}
        for instance_id, payload, sent_at, started_at, finished_at in steps:
            stages["fired"].append(late(datetime.fromisoformat(payload["payload"]["fired_at"])))
            stages["sent"].append(late(sent_at) if sent_at else 0.0)
            stages["claimed"].append(late(started_at))
            stages["resumed"].append(late(resumed_at[instance_id]))
            stages["done"].append(late(finished_at))
        connections.close_all()
        batches = sorted(collections.Counter(round(v, 3) for v in stages["fired"]).items())
        return {
            "fire_batches": batches[:20],
            "timers": len(ids), "fired": len(steps), "load": load,
            "stages": {name: (statistics.median(values), percentile(values, 0.99), max(values))
                       for name, values in stages.items()},
            "cpu_window": {k: cpu_at_end[k] - cpu_at_due[k] for k in cpu_at_end},
            "cpu_total": cpu_at_end, "window": ended,
            "machine": machine_info(args.postgres),
        }
    finally:
        stop_all(processes)
        sqs.kill()
        drop_database(args.postgres, database)


def run(args) -> list[dict]:
    """Each run in a process of its own: Django is set up once per process, for one database."""
    results = []
    for number in range(args.runs):
        with tempfile.NamedTemporaryFile(suffix=".json") as out:
            command = [sys.executable, "-m", "bench.timers", "--timers", str(args.timers),
                       "--postgres", args.postgres, "--redis", args.redis, "--json", out.name]
            for item in args.worker_env:
                command += ["--worker-env", item]
            subprocess.run(command, check=True, cwd=Path(__file__).resolve().parents[1])
            result = json.loads(Path(out.name).read_text())
        results.append(result)
        stages = result["stages"]
        print(f"run {number + 1}: load {result['load'][0]:.1f}, fired p99 "
              f"{stages['fired'][1]:.2f} s, resumed p50 {stages['resumed'][0]:.2f} s "
              f"p99 {stages['resumed'][1]:.2f} s, worker CPU in the window "
              f"{result['cpu_window']['workers']:.1f} s; fired (s after due, timers): "
              f"{result['fire_batches']}", flush=True)
    return results


def _spread(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.2f} s"
    return (f"{statistics.median(values):.2f} s ({min(values):.2f} to {max(values):.2f})")


def markdown(results: list[dict], settings_note: str = "") -> str:
    m = results[0]["machine"]
    loads = ", ".join(f"{r['load'][0]:.1f}" for r in results)
    n = len(results)
    lines = [
        f"{SECTION}\n",
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {m['nproc']} cores "
        f"({m['cpu']}), PostgreSQL {m['postgresql']}, local moto SQS; 2 worker processes x "
        f"prefork 2 (prefetch 4, polling 0.1 s), 2 beats (one leads: it fires the timers "
        "itself, woken for the next due time, 500 bookmarks claimed per transaction, then "
        "the resumes published WEFT_RESUMES_PER_MESSAGE (default 20) to a message; a worker "
        "resumes them one by one on the hot path, or in one transaction with "
        "WEFT_RESUME_BATCHES=true)"
        f"{settings_note}. {n} run{'s' if n > 1 else ''} "
        f"(`python -m bench.timers --runs {n}`), load average (1 min) at the start of each: "
        f"{loads}; medians over the runs, the spread in brackets.\n",
        "| figure | value | target |\n| --- | --- | --- |",
        f"| timers fired (exactly once each) | "
        f"{', '.join(str(r['fired']) for r in results)} of {results[0]['timers']} | all |",
        "| fire lateness p50 / p99 | "
        f"{_spread([r['stages']['fired'][0] for r in results])} / "
        f"{_spread([r['stages']['fired'][1] for r in results])} | p99 <= 1 s |",
        "| resumed on a worker p50 / p99 | "
        f"{_spread([r['stages']['resumed'][0] for r in results])} / "
        f"{_spread([r['stages']['resumed'][1] for r in results])} | p99 <= 2 s |",
        "",
        "Where the time goes, seconds after the due second (medians over the runs of each "
        "run's p50 / p99 / max):\n",
        "| stage | p50 | p99 | max |\n| --- | --- | --- | --- |",
    ]
    for name, label in STAGES:
        values = [r["stages"][name] for r in results]
        lines.append(f"| {label} | " + " | ".join(
            f"{statistics.median(v[i] for v in values):.2f}" for i in range(3)) + " |")
    lines += ["", "CPU seconds from the due second to the last resume (medians; the window "
              f"itself {statistics.median(r['window'] for r in results):.2f} s under load):\n",
              "| workers (2 x prefork 2) | beats (2) | SQS server | PostgreSQL sessions |",
              "| --- | --- | --- | --- |",
              "| " + " | ".join(f"{statistics.median(r['cpu_window'][k] for r in results):.2f}"
                               for k in ("workers", "beats", "sqs", "postgres")) + " |", ""]
    return "\n".join(lines)


def write_results(text: str) -> None:
    current = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    if SECTION in current:
        head, _, rest = current.partition(SECTION)
        tail = rest.split("\n## ", 1)
        current = head + text + ("\n## " + tail[1] if len(tail) > 1 else "")
    else:
        current = current.rstrip() + "\n\n" + text
    RESULTS.write_text(current)


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.json:
        args.json.write_text(json.dumps(run_once(args)))
        return
    results = run(args)
    text = markdown(results)
    print(text)
    if not args.no_results:
        write_results(text)


if __name__ == "__main__":
    main()
