"""The Celery baseline of `bench.distributed`: a no-op task, served by the same workers as Weft's
steps (they start with `--include bench.tasks`).

Like `weft.run_step` it is acknowledged late and stores no result. The last task of a chain
records when it ran (an RPUSH of its Unix time to a Redis list the benchmark watches); the
others do nothing at all.
"""

from __future__ import annotations

import functools
import os
import time

from celery import shared_task

REDIS_URL_VARIABLE = "WEFT_BENCH_REDIS_URL"


@functools.cache
def _redis():
    import redis

    return redis.Redis.from_url(os.environ.get(REDIS_URL_VARIABLE, "redis://127.0.0.1:6379/14"))


@shared_task(name="bench.noop", acks_late=True, ignore_result=True)
def noop(done_key: str | None = None) -> None:
    if done_key:
        _redis().rpush(done_key, repr(time.time()))
