"""Timer lateness: 1,000 Delay bookmarks due in the same second, two workers, two beats.

Run with `python -m bench.timers` (`make bench` runs it after the engine and distributed
benchmarks). It makes its own PostgreSQL database and local SQS server, creates 1,000 instances
waiting on a `Delay`, moves all their due times to the same second a few seconds ahead, starts
two `celery worker` processes and two `celery beat` processes (LockedDatabaseScheduler: one
leads), and waits until every instance finished. It reports, from that second:

- fire lateness: when the beat task claimed the bookmark and scheduled its resume
  (`fired_at` in the resume step);
- resume lateness: when the instance was resumed on a worker (its journal's `resumed` entry).

Each timer must fire exactly once; the run fails loudly otherwise.
"""

import argparse
import statistics
import time
import uuid
from datetime import timedelta
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


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timers", type=int, default=1000)
    parser.add_argument("--postgres", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/13")
    parser.add_argument("--no-results", action="store_true", help="do not write RESULTS.md")
    return parser.parse_args(argv)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


def run(args) -> dict:
    from tests.e2e.support.fixtures import ensure_test_queues
    from tests.e2e.support.platform import start_beat, start_worker, stop_all
    from workflows.sqs.local_server import start_local_sqs

    database = f"weft_bench_timers_{uuid.uuid4().hex[:6]}"
    sqs = start_local_sqs()
    processes = []
    try:
        recreate_database(args.postgres, database)
        options = SimpleNamespace(wait_time=1, polling_interval=0.1, prefetch=4,
                                  redis=args.redis, log_level="WARNING", worker_env=[])
        env = bench_env(options, sqs.url, f"{args.postgres}/{database}",
                        f"bt{uuid.uuid4().hex[:6]}-")
        migrate(env)
        setup_django(env)
        ensure_test_queues(env)
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
        processes = [start_worker(env, f"timers-w{n}") for n in (1, 2)]
        processes += [start_beat(env), start_beat(env)]
        # Every timer due in the same second, a few seconds from now (beats are up by then).
        due = (timezone.now() + timedelta(seconds=6)).replace(microsecond=0)
        Bookmark.objects.filter(instance_id__in=ids).update(due_at=due)
        deadline = time.monotonic() + 300
        while WorkflowInstance.objects.filter(id__in=ids, status="finished").count() < len(ids):
            if time.monotonic() > deadline:
                raise TimeoutError("timers did not all fire within 300 s")
            time.sleep(0.5)
        resumes = list(Step.objects.filter(instance_id__in=ids, kind="resume")
                       .values_list("payload", flat=True))
        resumed_at = list(JournalEntry.objects.filter(instance_id__in=ids, event="resumed")
                          .values_list("timestamp", flat=True))
        if len(resumes) != len(ids) or len(resumed_at) != len(ids):
            raise AssertionError(f"{len(resumes)} resume steps and {len(resumed_at)} resumes "
                                 f"for {len(ids)} timers: not exactly once")
        from datetime import datetime

        fired = [(datetime.fromisoformat(p["payload"]["fired_at"]) - due).total_seconds()
                 for p in resumes]
        resumed = [(t - due).total_seconds() for t in resumed_at]
        return {
            "timers": len(ids), "fired": len(resumes),
            "fire_p50": statistics.median(fired), "fire_p99": percentile(fired, 0.99),
            "resume_p50": statistics.median(resumed), "resume_p99": percentile(resumed, 0.99),
            "resume_max": max(resumed), "machine": machine_info(args.postgres),
        }
    finally:
        stop_all(processes)
        sqs.kill()
        drop_database(args.postgres, database)


def markdown(result: dict) -> str:
    m = result["machine"]
    return (
        f"{SECTION}\n\n"
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {m['nproc']} cores "
        f"({m['cpu']}), PostgreSQL {m['postgresql']}, local moto SQS; 2 worker processes x "
        "prefork 2, 2 beats (one leads), beat timer sweep every 1 s, 500 bookmarks claimed "
        "per transaction, resumes published 10 steps per message.\n\n"
        "| figure | value | target |\n| --- | --- | --- |\n"
        f"| timers fired (exactly once each) | {result['fired']} of {result['timers']} | all |\n"
        f"| fire lateness p50 / p99 | {result['fire_p50']:.2f} s / {result['fire_p99']:.2f} s "
        "| p99 <= 2 s |\n"
        f"| resumed on a worker p50 / p99 / max | {result['resume_p50']:.2f} s / "
        f"{result['resume_p99']:.2f} s / {result['resume_max']:.2f} s | (throughput-bound) |\n"
    )


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
    result = run(args)
    text = markdown(result)
    print(text)
    if not args.no_results:
        write_results(text)


if __name__ == "__main__":
    main()
