"""User activities used by the integration and end-to-end tests (loaded through
`WEFT_ACTIVITY_MODULES`, the same way a project's own modules are)."""

import os
import time
from datetime import UTC, datetime

from django.db import connection

from runtime import NonRetryableError, activity


@activity("test.flaky", retry={"max_attempts": 4, "initial_interval": 0.01, "max_interval": 0.05})
def flaky(*, fail_times: int, context) -> dict:
    """Fails its first `fail_times` attempts (retryable), then succeeds."""
    if context.attempt <= fail_times:
        raise RuntimeError(f"attempt {context.attempt} fails on purpose")
    return {"attempt": context.attempt}


@activity("test.refuse")
def refuse(*, reason: str = "no") -> None:
    raise NonRetryableError(reason)


EFFECTS_TABLE = "weft_test_effects"


def ensure_effects_table() -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TABLE IF NOT EXISTS {EFFECTS_TABLE} ("
            "idempotency_key text PRIMARY KEY, label text, runs integer NOT NULL DEFAULT 1)"
        )


@activity("test.effect", retry={"max_attempts": 5, "initial_interval": 0.1})
def effect(*, label: str, sleep: float = 0.0, context) -> dict:
    """Applies an external effect once per idempotency key, however often it runs (the way a
    payment provider honours an idempotency key); `runs` counts the executions."""
    ensure_effects_table()
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {EFFECTS_TABLE} (idempotency_key, label) VALUES (%s, %s) "
            f"ON CONFLICT (idempotency_key) DO UPDATE SET runs = {EFFECTS_TABLE}.runs + 1",
            [context.idempotency_key, label],
        )
    if sleep:
        time.sleep(sleep)
    return {"label": label, "key": context.idempotency_key}


@activity("test.sleep")
def sleep(*, seconds: float, label: str = "") -> dict:
    """Sleeps and reports when it ran and where (for the parallelism test)."""
    started = datetime.now(tz=UTC).isoformat()
    time.sleep(seconds)
    return {"label": label, "started": started, "finished": datetime.now(tz=UTC).isoformat(),
            "pid": os.getpid()}


@activity("test.poison")
def poison(*, flag_file: str) -> dict:
    """Kills the process running it while `flag_file` exists: a poison message."""
    if os.path.exists(flag_file):
        os._exit(13)
    return {"survived": True}


# The model-based test (tests/integration/model/) watches every execution of `test.model_step`:
# what the instance looked like when it ran, and whether it succeeded. Process-global because
# the activity runs in the test's own process (the machine calls the workers' service directly).
MODEL_EXECUTIONS: list[dict] = []
# How many next executions of a label fail (a retryable error): the machine arms them.
MODEL_FAIL_PLAN: dict[str, int] = {}


@activity("test.model_step",
          retry={"max_attempts": 3, "initial_interval": 0.01, "max_interval": 0.05})
def model_step(*, label: str, context) -> dict:
    """Records its execution with the instance's row as it is now (held? status?), then fails
    while its label is armed, else succeeds."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT held, status FROM workflows_workflowinstance WHERE id = %s",
                       [context.instance_id])
        row = cursor.fetchone()
    held, status = row if row else (None, "deleted")
    failing = MODEL_FAIL_PLAN.get(label, 0) > 0
    if failing:
        MODEL_FAIL_PLAN[label] -= 1
    MODEL_EXECUTIONS.append({"key": context.idempotency_key, "instance_id": context.instance_id,
                             "label": label, "held": held, "status": status,
                             "attempt": context.attempt, "ok": not failing})
    if failing:
        raise RuntimeError(f"{label} fails on purpose (attempt {context.attempt})")
    return {"label": label, "attempt": context.attempt}
