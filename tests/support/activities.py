"""User activities used by the integration and end-to-end tests (loaded through
`WEFT_ACTIVITY_MODULES`, the same way a project's own modules are)."""

import os
import time
from datetime import UTC, datetime

from django.db import connection

from runtime import NonRetryableError, activity


@activity("test.flaky", retry={"max_attempts": 4, "initial_interval": 0.01, "max_interval": 0.05})
def flaky(*, fail_times: int, sleep: float = 0.0, context) -> dict:
    """Fails its first `fail_times` attempts (retryable), each after `sleep` seconds, then
    succeeds."""
    if context.attempt <= fail_times:
        time.sleep(sleep)
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


@activity("test.charge", secret=["card_number"])
def charge(*, card_number: str, amount: float) -> dict:
    """A payment-like call: its card number is a secret parameter. Returns a receipt token
    (a secret by its name) that later steps use."""
    return {"charged": amount, "last4": card_number[-4:],
            "receipt_token": f"rcpt-{card_number[-4:]}-CONFIDENTIAL"}


@activity("test.secret_probe")
def secret_probe(*, token: str, context) -> dict:
    """Proves it received a secret's real value (its digest), and tries to leak it: the echo,
    the log line and the error must all come out masked."""
    import hashlib

    import structlog

    structlog.get_logger("tests.secret_probe").warning("probe_got_token", seen=token)
    if token.startswith("fail:"):
        raise RuntimeError(f"refusing {token}")
    return {"sha256": hashlib.sha256(token.encode()).hexdigest(), "echo": f"got {token}"}


@activity("test.fail_while")
def fail_while(*, flag_file: str) -> dict:
    """Fails for good (not retryable) while `flag_file` exists: an operator "fixes" the cause
    by removing it, then retries the instance."""
    if os.path.exists(flag_file):
        raise NonRetryableError(f"{flag_file} exists")
    return {"fixed": True}


@activity("test.slow_fail", retry={"max_attempts": 5, "initial_interval": 1, "max_interval": 1})
def slow_fail(*, seconds: float) -> None:
    """Runs for `seconds`, then fails (retryable): a failure that lands after an operator
    acted meanwhile."""
    time.sleep(seconds)
    raise RuntimeError(f"failed after {seconds}s on purpose")
