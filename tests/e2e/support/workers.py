"""Real `celery worker` processes for end-to-end tests, with their log captured to a file."""

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

REPO = Path(__file__).resolve().parents[3]


class WorkerExited(RuntimeError):
    pass


def log_tail(proc: subprocess.Popen, lines: int = 60) -> str:
    path = getattr(proc, "log_path", None)
    if not path or not Path(path).exists():
        return "(no log)"
    return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])


def read_log(proc: subprocess.Popen) -> str:
    return Path(proc.log_path).read_text(errors="replace")


def wait_for_log(proc: subprocess.Popen, text: str, timeout: float = 30.0) -> None:
    """Wait until `text` appears in the worker's log; raise with the log tail otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in read_log(proc):
            return
        if proc.poll() is not None:
            raise WorkerExited(
                f"worker exited ({proc.returncode}) before logging {text!r}:\n{log_tail(proc)}"
            )
        time.sleep(0.1)
    raise TimeoutError(f"worker did not log {text!r} within {timeout}s:\n{log_tail(proc)}")


def start_celery_worker(
    env: dict[str, str],
    *,
    app: str = "config",
    queues: list[str] | None = None,
    concurrency: int = 2,
    pool: str = "prefork",
    hostname: str | None = None,
    log_path: str | os.PathLike | None = None,
    loglevel: str = "INFO",
    extra_args: tuple[str, ...] = (),
    wait_ready: bool = True,
    ready_timeout: float = 30.0,
) -> subprocess.Popen:
    """Start `celery -A <app> worker` from the repository root with `env`.

    The process leads its own session (so `stop_worker` can reach its pool children) and writes
    stdout and stderr to `proc.log_path`. With `wait_ready`, returns once the worker logged
    "ready." (it is consuming), or raises with the log tail.
    """
    hostname = hostname or f"weft-test-{uuid.uuid4().hex[:8]}@%h"
    if log_path is None:
        log_dir = Path(tempfile.gettempdir()) / "weft-e2e-logs"
        log_dir.mkdir(exist_ok=True)
        log_path = log_dir / f"worker-{hostname.split('@')[0]}.log"
    command = [
        sys.executable, "-m", "celery", "-A", app, "worker",
        "--loglevel", loglevel, "-P", pool, "-c", str(concurrency), "-n", hostname,
        "--without-gossip", "--without-mingle", "--without-heartbeat",
    ]  # fmt: skip
    if queues:
        command += ["-Q", ",".join(queues)]
    command += list(extra_args)
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
    proc.hostname = hostname
    if wait_ready:
        try:
            wait_for_log(proc, " ready.", timeout=ready_timeout)
        except BaseException:
            stop_worker(proc, signal.SIGKILL)
            raise
    return proc


def stop_worker(
    proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 15.0
) -> int | None:
    """Send `sig` to the worker (SIGTERM: warm shutdown, SIGQUIT: cold, SIGKILL: crash) and
    wait; kill its whole process group if it is still there after `timeout`."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=timeout)
    # Pool children outlive a killed parent for a moment; the group is ours (start_new_session).
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)
    return proc.returncode
