"""A small threaded HTTP reverse proxy in front of the local SQS server that fails on purpose.

Point a worker's AWS_ENDPOINT_URL_SQS at `proxy.url`; publishers can keep talking to the server
directly. ReceiveMessage calls are answered with `status` (503) every `fail_every`-th call, or
with probability `fail_fraction` (seeded), and every call while `down` is set; everything else is
forwarded unchanged.
"""

from __future__ import annotations

import http.client
import json
import random
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


def _is_receive(headers, body: bytes) -> bool:
    # JSON protocol (botocore >= 1.31, kombu's async client): X-Amz-Target; query protocol: Action.
    if headers.get("X-Amz-Target", "").endswith(".ReceiveMessage"):
        return True
    return b"Action=ReceiveMessage" in body


def _action(headers, body: bytes) -> str:
    target = headers.get("X-Amz-Target", "")
    if target:
        return target.rsplit(".", 1)[-1]
    for pair in body.split(b"&"):
        if pair.startswith(b"Action="):
            return pair[len(b"Action="):].decode()
    return ""


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # clients hanging up mid-request (a worker shutting down) are expected here


class FlakyProxy:
    def __init__(
        self,
        upstream: str,
        *,
        fail_every: int = 0,
        fail_fraction: float = 0.0,
        status: int = 503,
        seed: int = 0,
        host: str = "127.0.0.1",
        port: int = 0,
    ):
        parts = urlsplit(upstream)
        self.upstream_host, self.upstream_port = parts.hostname, parts.port or 80
        self.fail_every = fail_every
        self.fail_fraction = fail_fraction
        self.status = status
        self.down = False  # answer `status` to every request (an outage)
        self.receive_calls = 0
        self.failed_calls = 0
        self.forwarded_calls = 0
        self.actions: list[str] = []  # the SQS action of every request, in order
        self.send_sizes: list[int] = []  # bytes of every SendMessage(Batch) request body
        # While set, SendMessage(Batch) requests hang (a publisher stuck mid-send, to be killed).
        self.hang_sends = False
        self._released = threading.Event()
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._server = _QuietServer((host, port), self._handler_class())
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://{self._server.server_address[0]}:{self.port}"

    def start(self) -> FlakyProxy:
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._released.set()
        self._server.shutdown()
        self._server.server_close()
        if self._thread:
            self._thread.join(timeout=5)

    def release(self) -> None:
        """Let hanging sends go on (answered with `status`: they were never forwarded)."""
        self._released.set()

    def __enter__(self) -> FlakyProxy:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _should_fail(self, receive: bool) -> bool:
        with self._lock:
            if self.down:
                self.failed_calls += 1
                return True
            if not receive:
                return False
            self.receive_calls += 1
            fail = (self.fail_every and self.receive_calls % self.fail_every == 0) or (
                self.fail_fraction and self._random.random() < self.fail_fraction
            )
            if fail:
                self.failed_calls += 1
            return bool(fail)

    def _handler_class(self):
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as pycurl and urllib3 expect

            def log_message(self, *args):  # quiet
                pass

            def _send(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
                self.send_response(status)
                for name, value in headers:
                    if name.lower() not in _HOP_BY_HOP:
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                action = _action(self.headers, body)
                with proxy._lock:
                    proxy.actions.append(action)
                    if action.startswith("SendMessage"):
                        proxy.send_sizes.append(len(body))
                hung = proxy.hang_sends and action.startswith("SendMessage")
                if hung:
                    proxy._released.wait(timeout=120)
                if hung or proxy._should_fail(_is_receive(self.headers, body)):
                    error = {
                        "__type": "com.amazonaws.sqs#ServiceUnavailable",
                        "message": "injected by FlakyProxy",
                    }
                    payload = json.dumps(error).encode()
                    self._send(
                        proxy.status, [("Content-Type", "application/x-amz-json-1.0")], payload
                    )
                    return
                upstream = http.client.HTTPConnection(
                    proxy.upstream_host, proxy.upstream_port, timeout=60
                )
                try:
                    # Host is kept: it is part of the SigV4 signature.
                    headers = dict(self.headers.items())
                    upstream.request(self.command, self.path, body=body, headers=headers)
                    response = upstream.getresponse()
                    payload = response.read()
                    with proxy._lock:
                        proxy.forwarded_calls += 1
                    self._send(response.status, response.getheaders(), payload)
                except OSError:
                    self._send(502, [("Content-Type", "text/plain")], b"upstream unreachable")
                finally:
                    upstream.close()

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _handle

        return Handler
