"""A local SQS-compatible server (moto) in a subprocess, for `make run` and the tests.

A subprocess rather than moto's ThreadedMotoServer, so fault tests can kill it (SIGKILL) and
restart it on the same port. moto keeps queues in memory: after a restart they are gone, so run
`ensure_queues` again (the workers' predefined queue URLs stay valid since the port is kept).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2) as sock:
            sock.sendall(b"GET /moto-api/ HTTP/1.0\r\nHost: x\r\n\r\n")
            return sock.recv(12).startswith(b"HTTP/")
    except OSError:
        return False


class LocalSqsServer:
    """moto's SQS server (workflows.sqs.moto_server) on `host:port`; `.url` is the
    AWS_ENDPOINT_URL_SQS to use."""

    def __init__(self, port: int | None = None, host: str = "127.0.0.1", log_path=None):
        self.host = host
        self.port = port or free_port(host)
        self.log_path = Path(log_path) if log_path else None
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 20.0) -> LocalSqsServer:
        if self.process and self.process.poll() is None:
            return self
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        try:
            # Our own fixed command line.
            self.process = subprocess.Popen(  # noqa: S603
                [sys.executable, "-m", "workflows.sqs.moto_server", "-H", self.host, "-p",
                 str(self.port)],
                cwd=Path(__file__).resolve().parents[2],  # the repository root
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
                start_new_session=True,  # a Ctrl-C in a terminal is the supervisor's to handle
            )
        finally:
            if log is not subprocess.DEVNULL:
                log.close()
        deadline = time.monotonic() + timeout
        while not _answers(self.host, self.port):
            if self.process.poll() is not None:
                raise RuntimeError(f"moto server exited with {self.process.returncode}")
            if time.monotonic() > deadline:
                self.kill()
                raise TimeoutError(f"moto server did not answer on {self.url} in {timeout}s")
            time.sleep(0.05)
        return self

    def _wait_port_free(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    sock.bind((self.host, self.port))
                    return
                except OSError:
                    time.sleep(0.05)

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM, then SIGKILL after `timeout`."""
        if not self.process or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        """SIGKILL: an abrupt broker outage."""
        if not self.process or self.process.poll() is not None:
            return
        self.process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)

    def restart(self, *, kill: bool = False, timeout: float = 20.0) -> LocalSqsServer:
        """Stop (or kill), start again on the same port. Queues are lost: re-run ensure_queues."""
        if kill:
            self.kill()
        else:
            self.stop()
        self._wait_port_free()
        return self.start(timeout=timeout)

    def __enter__(self) -> LocalSqsServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def start_local_sqs(port: int | None = None, host: str = "127.0.0.1", log_path=None):
    """Start a moto SQS server and wait until it answers."""
    return LocalSqsServer(port=port, host=host, log_path=log_path).start()
