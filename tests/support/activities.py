"""User activities used by the integration and end-to-end tests (loaded through
`WEFT_ACTIVITY_MODULES`, the same way a project's own modules are)."""

import hashlib
import json
import logging
import os
import threading
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
# Gates for tests that hold an activity open in one thread while another does something:
# `open_gate(name)` lets `test.gate` activities waiting on `name` go on; `gate_reached(name)`
# is set when one arrives. Only meaningful in the test's own process (inline execution).
_GATES: dict[str, threading.Event] = {}
_REACHED: dict[str, threading.Event] = {}
_GATES_LOCK = threading.Lock()


def _events(name: str) -> tuple[threading.Event, threading.Event]:
    with _GATES_LOCK:
        return (_GATES.setdefault(name, threading.Event()),
                _REACHED.setdefault(name, threading.Event()))


def open_gate(name: str) -> None:
    _events(name)[0].set()


def gate_reached(name: str) -> threading.Event:
    return _events(name)[1]


@activity("test.gate")
def gate(*, name: str = "", wait_seconds: float = 20.0) -> dict:
    """Waits until the test opens the gate `name` (an empty name passes at once)."""
    if not name:
        return {"gate": None}
    opened, reached = _events(name)
    reached.set()
    return {"gate": name, "opened": opened.wait(wait_seconds)}


@activity("test.tick", retry={"max_attempts": 2, "initial_interval": 0.5, "max_interval": 0.5})
def tick(*, directory: str, seconds: int, context) -> dict:
    """Writes a marker file `<attempt>-<n>` each second (and logs it), `seconds` times: what a
    runaway activity does after its timeout if nobody stops it."""
    log = logging.getLogger("tests.tick")
    for n in range(seconds):
        marker = os.path.join(directory, f"{context.attempt}-{n}")
        with open(marker, "w") as handle:
            handle.write(str(time.time()))
        log.info("tick %s", marker)
        time.sleep(1)
    return {"ticks": seconds}
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


@activity("test.produce")
def produce(*, size: int, seed: str = "weft") -> str:
    """`size` characters of hex, a chain of SHA-256 digests from `seed`: deterministic, and it
    compresses like real data does (about half), not like one repeated character."""
    blocks, digest, length = [], seed.encode(), 0
    while length < size:
        digest = hashlib.sha256(digest).digest()
        block = digest.hex()
        blocks.append(block)
        length += len(block)
    return "".join(blocks)[:size]


@activity("test.measure")
def measure(*, data) -> dict:
    """The length and SHA-256 of `data` (a string, or anything as its compact JSON)."""
    text = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    return {"length": len(text), "sha256": hashlib.sha256(text.encode()).hexdigest()}
