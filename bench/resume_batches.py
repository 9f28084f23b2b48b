"""Round trips to PostgreSQL and CPU per resume, in-process: one by one against in batches.

Run with `python -m bench.resume_batches`. On a database of its own (created, migrated, dropped)
it puts N instances to sleep on a `Delay`, fires their timers (`timers_fire_due`, publishing
switched off: no broker, no worker), then resumes them, half the way a worker resumes a step of
a single-step message (`step_process`, one call per resume) and half the way it resumes a
message of resumes (`resumes_process`, one call per `--per-message` steps). Round trips and CPU
are counted as `bench.round_trips` counts them (statements + BEGIN/COMMIT; this process's CPU,
which includes Django's query log that the counting turns on: compare the two rows, not
absolute figures). A worker adds Celery and the SQS client on top (`bench.timers` measures
whole workers).
"""

import argparse
import os
from unittest import mock

from bench import distributed
from bench.round_trips import Tally, counting


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pg", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--database", default="weft_bench_resume_batches")
    parser.add_argument("--timers", type=int, default=400)
    parser.add_argument("--per-message", type=int, default=50)
    options = parser.parse_args(argv)
    load = " ".join(f"{v:.2f}" for v in os.getloadavg())
    args = distributed.parse_args([])
    distributed.recreate_database(options.pg, options.database)
    try:
        env = distributed.bench_env(args, "http://127.0.0.1:9",
                                    f"{options.pg.rstrip('/')}/{options.database}", "rb-")
        distributed.migrate(env)
        distributed.setup_django(env)
        rows = measure(options.timers, options.per_message)
        from django.db import connections

        connections.close_all()
    finally:
        distributed.drop_database(options.pg, options.database)
    print(f"Resumes of {options.timers // 2} timers each way, in-process; load average at "
          f"start {load}\n")
    print("| way | round trips per resume | CPU ms per resume |\n| --- | --- | --- |")
    for name, tally, count in rows:
        print(f"| {name} | {tally.round_trips / count:.2f} | {tally.cpu / count * 1000:.2f} |")


def measure(timers: int, per_message: int) -> list[tuple[str, Tally, int]]:
    from django.utils import timezone

    from workflows.models import Bookmark, Step
    from workflows.services.definitions import definition_create, definition_publish
    from workflows.services.inline import instance_execute
    from workflows.services.resumes import resumes_process
    from workflows.services.runner import step_process
    from workflows.services.tenancy import tenant_member_ensure
    from workflows.services.timers import timers_fire_due

    tenant = tenant_member_ensure(tenant_slug="bench", username="bench", role="editor",
                                  password="bench-password").tenant
    definition_create(tenant=tenant, user=None, body={
        "definition_id": "alarm", "name": "alarm",
        "root": {"type": "Sequence", "id": "main", "activities": [
            {"id": "sleep", "type": "Delay", "duration": 3600},
            {"id": "done", "type": "WriteLine", "text": "woke"}]}})
    definition_publish(tenant=tenant, user=None, definition_id="alarm")
    for _ in range(timers):
        instance_execute(tenant=tenant, definition_id="alarm")
    Bookmark.objects.update(due_at=timezone.now())
    with mock.patch("workflows.services.outbox.steps_publish"):
        assert timers_fire_due() == timers
        steps = [str(s) for s in Step.objects.filter(kind="resume").values_list("id", flat=True)]
        single, batched = steps[: timers // 2], steps[timers // 2:]
        step_process(step_id=single.pop(), worker="bench")  # warm caches (plans, queries)
        resumes_process(step_ids=batched[:per_message], worker="bench")
        batched = batched[per_message:]
        with counting(Tally()) as one_by_one:
            for step_id in single:
                assert step_process(step_id=step_id, worker="bench") == "done"
        with counting(Tally()) as together:
            for i in range(0, len(batched), per_message):
                outcomes, left = resumes_process(step_ids=batched[i:i + per_message],
                                                 worker="bench")
                assert not left and set(outcomes) == {"done"}
    return [("`step_process`, one resume per call", one_by_one, len(single)),
            (f"`resumes_process`, {per_message} resumes per call", together, len(batched))]


if __name__ == "__main__":
    main()
