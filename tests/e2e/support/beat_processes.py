"""Real `celery beat` processes running LockedDatabaseScheduler, and a record of what they sent.

The beats publish to the local SQS server like production beats publish to SQS; `SentMessages`
reads the queue, so the test observes the sends themselves (SQS stamps each message with its
SentTimestamp; Celery's `origin` header names the sending process).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path
from urllib.parse import quote

from tests.e2e.support.fixtures import sqs_client
from tests.e2e.support.workers import REPO
from workflows.sqs.config import sqs_settings
from workflows.sqs.queues import decode_celery_message

SCHEDULER = "workflows.scheduler:LockedDatabaseScheduler"
_ORIGIN_PID = re.compile(r"^gen(\d+)@")


def start_beat(env: dict[str, str], *, name: str | None = None) -> subprocess.Popen:
    """Start `celery -A config beat -S LockedDatabaseScheduler`; its log goes to `proc.log_path`.

    Returns at once: a beat needs a second or two to import Django and tick for the first time.
    """
    name = name or f"beat-{uuid.uuid4().hex[:8]}"
    log_dir = Path(tempfile.gettempdir()) / "weft-e2e-logs"
    log_dir.mkdir(exist_ok=True)
    log_path = log_dir / f"{name}.log"
    command = [
        sys.executable, "-m", "celery", "-A", "config", "beat", "-S", SCHEDULER,
        "--loglevel", "INFO",
    ]  # fmt: skip
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(  # our own command line
            command,
            cwd=REPO,
            env={**env, "PYTHONUNBUFFERED": "1"},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    proc.log_path = str(log_path)
    return proc


def database_url_for(settings_dict: dict) -> str:
    """A DATABASE_URL for the database pytest-django created (`connection.settings_dict`)."""
    user = quote(settings_dict.get("USER") or "", safe="")
    password = quote(settings_dict.get("PASSWORD") or "", safe="")
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = settings_dict.get("HOST") or "127.0.0.1"
    port = settings_dict.get("PORT") or 5432
    return f"postgres://{auth}{host}:{port}/{settings_dict['NAME']}"


def lock_holder(cursor, lock_key: int) -> tuple[int, str] | None:
    """(backend pid, application_name) of the session holding the beat lock, or None."""
    cursor.execute(
        """
        SELECT l.pid, a.application_name FROM pg_locks l JOIN pg_stat_activity a USING (pid)
        WHERE l.locktype = 'advisory' AND l.granted AND l.database = (
                SELECT oid FROM pg_database WHERE datname = current_database())
          AND l.classid = 0 AND l.objid::bigint = %s AND l.objsubid = 1
        """,
        [lock_key],
    )
    row = cursor.fetchone()
    return (row[0], row[1]) if row else None


def holder_os_pid(application_name: str) -> int | None:
    """The beat's process id from its lock connection's application_name (`... pid=123`)."""
    match = re.search(r"pid=(\d+)", application_name or "")
    return int(match.group(1)) if match else None


@dataclasses.dataclass(frozen=True)
class Sent:
    at: float  # SQS SentTimestamp, seconds since the epoch
    task: str
    task_id: str
    pid: int | None  # the sending process, from Celery's `origin` header


class SentMessages:
    """Everything published to the work queue described by `env`, in send order.

    `poll()` receives what is visible and keeps it invisible (a long visibility timeout), so each
    message is read once; nothing consumes these tasks.
    """

    def __init__(self, env: dict[str, str]):
        settings = sqs_settings(env)
        self.client = sqs_client(env)
        self.url = settings.queue_url(settings.sqs_queue())
        self._seen: dict[str, Sent] = {}

    def poll(self) -> list[Sent]:
        while True:
            response = self.client.receive_message(
                QueueUrl=self.url,
                MaxNumberOfMessages=10,
                VisibilityTimeout=600,
                WaitTimeSeconds=0,
                AttributeNames=["SentTimestamp"],
            )
            messages = response.get("Messages", [])
            for message in messages:
                task = decode_celery_message(message["Body"])
                origin = _ORIGIN_PID.match(task["headers"].get("origin") or "")
                self._seen[message["MessageId"]] = Sent(
                    at=int(message["Attributes"]["SentTimestamp"]) / 1000,
                    task=task["task"],
                    task_id=task["id"],
                    pid=int(origin.group(1)) if origin else None,
                )
            if not messages:
                return self.sends()

    def sends(self, task: str | None = None) -> list[Sent]:
        found = [s for s in self._seen.values() if task is None or s.task == task]
        return sorted(found, key=lambda s: s.at)


# Celery logs "Scheduler: Sending due task <entry> (<task>)" right after reserving the entry (the
# moment its last_run_at is taken, from which the next slot is counted) and before publishing.
_SENDING = re.compile(r"Scheduler: Sending due task (?P<entry>\S+) \(")
_CELERY_TIME = re.compile(r"^\[(?P<at>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}):")
_JSON_TIME = re.compile(r'"timestamp": "(?P<at>[^"]+)"')


def logged_sends(procs: list[subprocess.Popen], entry: str) -> list[tuple[float, int]]:
    """(time, pid) of each "Sending due task <entry>" in the beats' logs, in time order.

    Reads Celery's own log format (local time, milliseconds) or a JSON line's ISO timestamp.
    """
    found = []
    for proc in procs:
        for line in Path(proc.log_path).read_text(errors="replace").splitlines():
            sending = _SENDING.search(line)
            if not sending or sending.group("entry") != entry:
                continue
            if match := _CELERY_TIME.match(line):
                at = datetime.strptime(match.group("at"), "%Y-%m-%d %H:%M:%S,%f").timestamp()
            elif match := _JSON_TIME.search(line):
                at = datetime.fromisoformat(match.group("at").replace("Z", "+00:00")).timestamp()
            else:
                raise ValueError(f"no timestamp in beat log line {line!r}")
            found.append((at, proc.pid))
    return sorted(found)


def alive(proc: subprocess.Popen) -> bool:
    return proc.poll() is None


def kill_all(procs: list[subprocess.Popen]) -> None:
    """SIGKILL each beat's process group (ours: start_new_session) and reap it."""
    for proc in procs:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
    for proc in procs:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)


def wait_until(predicate, timeout: float, interval: float = 0.05, what: str = "condition"):
    """Call `predicate` until it returns something truthy; return that, or raise after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not reached within {timeout}s")
        time.sleep(interval)
