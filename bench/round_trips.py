"""Database round trips and CPU per step, by kind, in-process (`python -m bench.round_trips`).

Runs the real step processing service (`workflows.services.runner.step_process`) in this process
on a PostgreSQL database of its own (created, migrated, dropped), with publishing switched off
(no broker, no worker: nothing else touches these steps), and counts what each kind of step
sends to PostgreSQL:

- a task step arriving as a message: `WEFT_STEP_CONTINUE_MAX=0`, each step of a 5-task workflow
  is one `step_process` call, as when each arrives as an SQS message;
- a step the worker continues with: the workers' setting; one `step_process` runs a whole
  k-task workflow, and (continued run of 10 tasks - continued run of 5 tasks) / 5 is the cost
  of one more continued task step;
- an inline activity: (one burst of 200 inline activities - one burst of 10) / 190.

Round trips = SQL statements (every `cursor.execute`/`executemany`, counted by a Django
`connection.execute_wrapper`, so savepoints count too) + transaction control (BEGIN, COMMIT and
ROLLBACK, each a round trip, read from Django's query log). Not counted: the pool's health
check when a worker checks a connection out (one empty round trip per task message, not per
step). CPU is this process's (`time.process_time`): Django, the engine, psycopg's client side;
a worker adds Celery and the SQS client on top (`bench.distributed` measures whole workers).

The PostgreSQL backend's CPU for the same statements is read from `/proc/<pid>/schedstat`
(nanoseconds) when the server runs on this machine: the server's side of a step, which the
machine-wide figures of `bench.distributed` mix with every other backend's.

Prints a table of medians; targets from issue 14 beside them.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from unittest import mock

from bench import distributed

TARGETS = {"message": 3, "continued": 2, "inline": 0}
CONTROL = {"BEGIN", "COMMIT", "ROLLBACK"}


@dataclass
class Tally:
    statements: list[str] = field(default_factory=list)
    control: int = 0
    cpu: float = 0.0
    server_cpu: float | None = None  # the PostgreSQL backend's, when it can be read

    @property
    def round_trips(self) -> int:
        return len(self.statements) + self.control


@contextmanager
def counting(tally: Tally):
    """Counts every statement and transaction command this process sends meanwhile."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def wrapper(execute, sql, params, many, context):
        tally.statements.append(sql)
        return execute(sql, params, many, context)

    backend = backend_pid()
    server_started = server_cpu(backend)
    started = time.process_time()
    with CaptureQueriesContext(connection) as captured, connection.execute_wrapper(wrapper):
        yield tally
    tally.cpu += time.process_time() - started
    server_ended = server_cpu(backend)
    if server_started is not None and server_ended is not None:
        tally.server_cpu = (tally.server_cpu or 0.0) + server_ended - server_started
    tally.control += sum(1 for q in captured if q["sql"].strip().upper() in CONTROL)


def backend_pid() -> int:
    """This process's PostgreSQL backend (one connection: Django's, kept open meanwhile)."""
    from django.db import connection

    connection.ensure_connection()
    return connection.connection.info.backend_pid


def server_cpu(pid: int) -> float | None:
    """Seconds of CPU the backend `pid` has run so far, in nanoseconds' resolution
    (`/proc/<pid>/schedstat`: readable when PostgreSQL runs on this machine as a user this
    process may inspect); None otherwise."""
    try:
        with open(f"/proc/{pid}/schedstat") as stat:
            return int(stat.read().split()[0]) / 1e9
    except (OSError, ValueError, IndexError):
        return None


def pending_step(instance_id):
    from workflows.models import Step, StepStatus

    return (Step.objects.filter(instance_id=instance_id, status=StepStatus.PENDING)
            .order_by("created_at").values_list("id", flat=True).first())


def run_steps(instance_id) -> list[Tally]:
    """Every step of one instance, one `step_process` call each, counted one by one."""
    from workflows.services.runner import step_process

    tallies = []
    while (step_id := pending_step(instance_id)) is not None:
        with counting(Tally()) as tally:
            outcome = step_process(step_id=step_id, worker="bench")
        assert outcome == "done", outcome
        tallies.append(tally)
    return tallies


def dispatch(tenant, definition_id: str, n: int = 1):
    from workflows.services.instances import instance_dispatch

    inputs = {} if definition_id.startswith("inline") else {"n": n}
    return instance_dispatch(tenant=tenant, definition_id=definition_id, input=inputs)


def measure(tenant, repeat: int) -> dict[str, list[tuple[float, float, Tally]]]:
    """{kind: [(round trips, CPU seconds, an example tally, backend CPU seconds or None)
    per sample]}."""
    from django.test import override_settings

    found: dict[str, list] = {"message": [], "continued": [], "inline": []}
    for _ in range(repeat):
        with override_settings(WEFT_STEP_CONTINUE_MAX=0):
            steps = run_steps(dispatch(tenant, "tasks5").id)
            # steps[0] runs the dispatch's RUN step up to the first task; then one per task.
            for tally in steps[1:]:
                found["message"].append((tally.round_trips, tally.cpu, tally, tally.server_cpu))
        five, ten = (run_steps(dispatch(tenant, name).id) for name in ("tasks5", "peer10"))
        assert len(five) == len(ten) == 1, (len(five), len(ten))  # continued in one call
        found["continued"].append(((ten[0].round_trips - five[0].round_trips) / 5,
                                   (ten[0].cpu - five[0].cpu) / 5, ten[0],
                                   _difference(ten[0], five[0], 5)))
        small, big = (run_steps(dispatch(tenant, name).id) for name in ("inline10", "inline200"))
        assert len(small) == len(big) == 1
        found["inline"].append(((big[0].round_trips - small[0].round_trips) / 190,
                                (big[0].cpu - small[0].cpu) / 190, big[0],
                                _difference(big[0], small[0], 190)))
    return found


def _difference(big: Tally, small: Tally, count: int) -> float | None:
    if big.server_cpu is None or small.server_cpu is None:
        return None
    return (big.server_cpu - small.server_cpu) / count


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pg", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--database", default="weft_bench_round_trips")
    parser.add_argument("--repeat", type=int, default=10, help="samples per kind of step")
    options = parser.parse_args(argv)
    load = " ".join(f"{v:.2f}" for v in os.getloadavg())
    args = distributed.parse_args(["--peer-steps", "5,10"])
    database_url = f"{options.pg.rstrip('/')}/{options.database}"
    distributed.recreate_database(options.pg, options.database)
    try:
        # No SQS server: publishing is switched off below; the URL is never called.
        env = distributed.bench_env(args, "http://127.0.0.1:9", database_url, "rt-")
        distributed.migrate(env)
        distributed.setup_django(env)
        tenant = distributed.publish_definitions(args)
        with mock.patch("workflows.services.outbox.steps_publish"):
            for name in ("tasks5", "peer10", "inline10", "inline200"):  # warm caches
                run_steps(dispatch(tenant, name).id)
            found = measure(tenant, options.repeat)
        from django.db import connections

        connections.close_all()
    finally:
        distributed.drop_database(options.pg, options.database)
    print(f"Round trips to PostgreSQL and CPU per step, in-process, median of {options.repeat} "
          f"samples (this process's CPU; a worker adds Celery and the SQS client); load average "
          f"at start {load}")
    print()
    print("| step kind | round trips | of which BEGIN/COMMIT | CPU ms | PostgreSQL backend CPU ms "
          "| target round trips |")
    print("| --- | --- | --- | --- | --- | --- |")
    labels = {"message": "task step arriving as a message",
              "continued": "task step the worker continues with (10-task run - 5-task run) / 5",
              "inline": "inline activity (200-activity burst - 10-activity burst) / 190"}
    for kind, samples in found.items():
        trips = statistics.median(s[0] for s in samples)
        cpu = statistics.median(s[1] for s in samples) * 1000
        control = samples[0][2].control if kind == "message" else "-"
        servers = [s[3] for s in samples if s[3] is not None]
        server = f"{statistics.median(servers) * 1000:.2f}" if servers else "-"
        print(f"| {labels[kind]} | {trips:g} | {control} | {cpu:.2f} | {server} "
              f"| <= {TARGETS[kind]} |")
    print()
    example = found["message"][0][2]
    print("A task step arriving as a message sends: "
          + distributed.sql_outline(example.statements) + f" (+ {example.control} BEGIN/COMMIT)")
    cont = found["continued"][0][2]
    print(f"A continued 10-task run in one step_process: {cont.round_trips} round trips "
          f"({len(cont.statements)} statements + {cont.control} BEGIN/COMMIT): "
          + distributed.sql_outline(cont.statements))


if __name__ == "__main__":
    main()
