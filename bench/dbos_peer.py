"""DBOS Transact, the peer `bench.distributed` measures Weft against, doing the same work.

Bench-only: DBOS is pinned in bench/requirements-dbos.txt (installed by `make bench`), never a
dependency of Weft. Its processes:

- executors: `python -m bench.dbos_peer --database-url URL --executor NAME`, one by default
  (`--dbos-executors`; executors that contend for the queue make DBOS back its polling off,
  from 0.1 s up to 120 s); each launches DBOS and dequeues from one queue, `weft-bench-peer`,
  polled every `--polling-interval` seconds (0.1 by default), at most `--worker-concurrency`
  workflows at a time per executor (unset: DBOS's own default, no limit);
- the driver: `DbosPeer` in the benchmark's process, a DBOS that listens to no queue and only
  enqueues, as `instance_dispatch` does for Weft.

The work, step for step the shapes of Weft's side (steps are `@DBOS.step()`, each checkpointed
in DBOS's system database):
(a) `count_up(steps)`: `steps` sequential trivial steps (i + 1);
(b)/(c) `add_up(n, steps)`: `steps` sequential `add(a, 1)` steps starting at n; the result is
    checked (n + steps), as Weft's totals are.
A workflow's end is its own record's `updated_at` (DBOS's `workflow_status`, written when it
ends), as Weft's is `finished_at`.
"""

from __future__ import annotations

import argparse
import os
import signal
import threading
import time
import uuid

from dbos import DBOS, DBOSConfig

QUEUE = "weft-bench-peer"
APP = "weft-bench-peer"


@DBOS.step()
def increment(i: int) -> int:
    return i + 1


@DBOS.step()
def add(a: int, b: int) -> int:
    return a + b


@DBOS.workflow()
def count_up(steps: int) -> int:
    i = 0
    for _ in range(steps):
        i = increment(i)
    return i


@DBOS.workflow()
def add_up(n: int, steps: int) -> int:
    total = n
    for _ in range(steps):
        total = add(total, 1)
    return total


def sqlalchemy_url(database_url: str) -> str:
    """postgres://... as DBOS (SQLAlchemy with psycopg 3) wants it."""
    rest = database_url.split("://", 1)[1]
    return f"postgresql+psycopg://{rest}"


def _config(database_url: str, executor: str) -> DBOSConfig:
    return {"name": APP, "system_database_url": sqlalchemy_url(database_url),
            "executor_id": executor, "log_level": "WARNING"}


def settings_summary(args) -> str:
    limit = args.dbos_worker_concurrency
    return (f"DBOS Transact {_version()}: {args.dbos_executors} executor process(es) (Weft: "
            f"{args.workers} worker processes), each `DBOS.launch()`ed and dequeuing from one "
            "queue registered "
            f"with polling_interval_sec={args.dbos_polling_interval:g} and worker_concurrency="
            f"{limit if limit else 'unset (DBOS default: no limit)'}; workflows enqueued by the "
            "benchmark process (a DBOS that listens to no queue) with `Queue.enqueue`; system "
            "database on the same PostgreSQL server, database of its own; DBOS's default "
            "connection pool and serializer; every step a `@DBOS.step()` (one checkpoint each)")


def _version() -> str:
    from importlib.metadata import version

    return version("dbos")


class DbosPeer:
    """The driver: enqueues workflows and waits for their records to end."""

    def __init__(self, database_url: str, polling_interval: float,
                 worker_concurrency: int | None) -> None:
        import psycopg

        self.database_url = database_url
        DBOS(config=_config(database_url, f"driver-{os.getpid()}"))
        DBOS.listen_queues([])
        DBOS.launch()
        self.queue = DBOS.register_queue(QUEUE, polling_interval_sec=polling_interval,
                                         worker_concurrency=worker_concurrency,
                                         on_conflict="always_update")
        self.db = psycopg.connect(database_url, autocommit=True)

    def close(self) -> None:
        self.db.close()
        DBOS.destroy(destroy_registry=False)

    def _ended(self, ids: list[str]) -> tuple[int, list[tuple[str, str, int]]]:
        rows = self.db.execute(
            "SELECT workflow_uuid, status, updated_at FROM dbos.workflow_status "
            "WHERE workflow_uuid = ANY(%s) AND status IN ('SUCCESS', 'ERROR', 'CANCELLED')",
            [ids]).fetchall()
        return len(rows), rows

    def _wait(self, ids: list[str], timeout: float, interval: float) -> list[tuple]:
        deadline, moved, last = time.monotonic() + timeout, time.monotonic(), -1
        while True:
            done, rows = self._ended(ids)
            if done == len(ids):
                break
            if done != last:
                last, moved = done, time.monotonic()
            if time.monotonic() > deadline or time.monotonic() - moved > 60:
                raise TimeoutError(f"DBOS: {len(ids) - done} of {len(ids)} workflows did not "
                                   "end in time")
            time.sleep(interval)
        bad = [r for r in rows if r[1] != "SUCCESS"]
        if bad:
            raise RuntimeError(f"DBOS: {len(bad)} workflows ended {bad[0][1]}")
        return rows

    def latency(self, steps: int, timeout: float) -> float:
        started = time.time()
        handle = self.queue.enqueue(count_up, steps)
        [(_, _, updated_ms)] = self._wait([handle.workflow_id], timeout, interval=0.01)
        assert handle.get_result() == steps
        return updated_ms / 1000 - started

    def throughput(self, count: int, steps: int, timeout: float) -> dict:
        started = time.time()
        handles = [self.queue.enqueue(add_up, n, steps) for n in range(count)]
        sent = time.time()
        rows = self._wait([h.workflow_id for h in handles], timeout, interval=0.25)
        wrong = [n for n, h in enumerate(handles) if h.get_result() != n + steps]
        if wrong:
            raise RuntimeError(f"DBOS: {len(wrong)} workflows computed a wrong total")
        elapsed = max(r[2] for r in rows) / 1000 - started
        return {"elapsed": elapsed, "rate": count / elapsed, "send": sent - started,
                "started": started}


def _executor(database_url: str, name: str, polling_interval: float,
              worker_concurrency: int | None) -> None:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    DBOS(config=_config(database_url, name))
    DBOS.launch()
    DBOS.register_queue(QUEUE, polling_interval_sec=polling_interval,
                        worker_concurrency=worker_concurrency, on_conflict="always_update")
    print(f"dbos executor {name} ready", flush=True)
    stop.wait()
    DBOS.destroy(destroy_registry=True)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--executor", default=f"executor-{uuid.uuid4().hex[:6]}")
    parser.add_argument("--polling-interval", type=float, default=0.1)
    parser.add_argument("--worker-concurrency", type=int, default=None)
    args = parser.parse_args(argv)
    _executor(args.database_url, args.executor, args.polling_interval, args.worker_concurrency)


if __name__ == "__main__":
    main()
