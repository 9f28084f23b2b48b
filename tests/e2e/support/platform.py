"""The platform's processes for end-to-end tests: a real web server (gunicorn), real Celery
workers and a real beat, all on the test database and a local SQS server."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

from tests.e2e.support.workers import REPO, start_celery_worker, stop_worker

LOG_DIR = Path(tempfile.gettempdir()) / "weft-e2e-logs"


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def platform_env(sqs_env: dict, database_name: str, **overrides) -> dict:
    """Environment for every process: the test database, Redis, SQS, short leases."""
    env = dict(sqs_env)
    env.update({
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{database_name}",
        # Few connections per process: several processes share one test PostgreSQL.
        "WEFT_DB_POOL_MIN": "1", "WEFT_DB_POOL_MAX": "8",
        "WEFT_DB_POOL_CHILD_MIN": "1", "WEFT_DB_POOL_CHILD_MAX": "4",
        "WEFT_ACTIVITY_MODULES": "tests.support.activities",
        "WEFT_STEP_LEASE_SECONDS": "5",
        "WEFT_STEP_REPUBLISH_AFTER": "30",
        "WEFT_WORKER_HEARTBEAT_SECONDS": "1",
        # A second queue, for definitions whose options.queue routes them to other workers.
        "WEFT_SQS_QUEUES": "priority",
        "LOG_LEVEL": "INFO",
    })
    env.update({k: str(v) for k, v in overrides.items()})
    return env


class WebServer:
    def __init__(self, env: dict, workers: int = 2) -> None:
        self.port = free_port()
        LOG_DIR.mkdir(exist_ok=True)
        self.log_path = LOG_DIR / f"web-{self.port}.log"
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(  # our own command line
                [sys.executable, "-m", "gunicorn", "config.wsgi", "-c", "config/gunicorn.conf.py",
                 "-b", f"127.0.0.1:{self.port}", "-w", str(workers), "--timeout", "60"],
                cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True)
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                log = self.log_path.read_text()[-3000:]
                raise RuntimeError(f"web server did not start:\n{log}")
            time.sleep(0.2)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        stop_worker(self.process, signal.SIGTERM, timeout=10)


def start_beat(env: dict) -> subprocess.Popen:
    LOG_DIR.mkdir(exist_ok=True)
    log_path = LOG_DIR / f"beat-{uuid.uuid4().hex[:6]}.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(  # our own command line
            [sys.executable, "-m", "celery", "-A", "config", "beat", "--loglevel", "INFO",
             "-S", "workflows.scheduler:LockedDatabaseScheduler",
             "--schedule", str(LOG_DIR / f"beat-{uuid.uuid4().hex[:6]}.db")],
            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    process.log_path = str(log_path)
    return process


def start_worker(env: dict, name: str, concurrency: int = 2, **kwargs) -> subprocess.Popen:
    return start_celery_worker(env, hostname=f"{name}-{uuid.uuid4().hex[:4]}@%h",
                               concurrency=concurrency, **kwargs)


def stop_all(processes) -> None:
    for process in processes:
        with contextlib.suppress(Exception):
            stop_worker(process, signal.SIGKILL, timeout=2)


class Api:
    """A client of the real web server, authenticated with a real JWT."""

    def __init__(self, base_url: str, username: str, password: str) -> None:
        self.client = httpx.Client(base_url=f"{base_url}/api/v1", timeout=60)
        tokens = self.client.post("/auth/token/", json={"username": username,
                                                        "password": password})
        tokens.raise_for_status()
        self.client.headers["Authorization"] = f"Bearer {tokens.json()['access']}"

    def post(self, path: str, body: dict | None = None) -> httpx.Response:
        return self.client.post(path, json=body or {})

    def get(self, path: str, **params) -> httpx.Response:
        return self.client.get(path, params=params)


def wait_until(predicate, *, timeout: float, interval: float = 0.25, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"{what} not reached within {timeout}s")


def process_alive(process: subprocess.Popen) -> bool:
    return process.poll() is None


def kill_group(process: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


def assert_branches_overlapped(instance_id) -> None:
    """The fork's `left` and `right` sleeps (test.sleep) ran at the same time, in two
    different processes: its branches ran in parallel."""
    from datetime import datetime

    from workflows.models import ActivityExecution

    runs = [r.output for r in ActivityExecution.objects.filter(
        instance_id=instance_id, activity_id__in=["left", "right"])]
    assert len(runs) == 2
    (a_start, a_end), (b_start, b_end) = [
        (datetime.fromisoformat(r["started"]), datetime.fromisoformat(r["finished"]))
        for r in runs]
    assert a_start < b_end and b_start < a_end, runs  # the two sleeps overlapped
    assert runs[0]["pid"] != runs[1]["pid"]
