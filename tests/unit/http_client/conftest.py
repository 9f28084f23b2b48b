"""A real HTTP server on 127.0.0.1 and a tripwire that keeps test traffic on loopback."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

BIG_BODY = b"x" * (2 * 1024 * 1024)


class _Handler(BaseHTTPRequestHandler):
    server_version = "WeftTest/1.0"

    def log_message(self, format, *args):  # keep pytest output quiet
        pass

    def do_GET(self):
        self._route()

    def do_POST(self):
        self._route()

    def do_PUT(self):
        self._route()

    def _route(self):
        parts = urlsplit(self.path)
        query = parse_qs(parts.query)
        port = self.server.server_address[1]
        routes = {
            "/json": lambda: self._send(
                200, b'{"hello": "world", "n": [1, 2]}', "application/json"
            ),
            "/problem": lambda: self._send(
                422, b'{"title": "nope"}', "application/problem+json; charset=utf-8"
            ),
            "/bad-json": lambda: self._send(200, b"not json{", "application/json"),
            "/text": lambda: self._send(
                200, "plain text \u00e9".encode(), "text/plain; charset=utf-8"
            ),
            "/slow": lambda: self._slow(float(query.get("seconds", ["1"])[0])),
            "/redirect": lambda: self._redirect(302, "/json"),
            "/redirect-relative": lambda: self._redirect(302, "json"),
            "/redirect-metadata": lambda: self._redirect(302, "http://169.254.169.254/latest/"),
            "/redirect-private": lambda: self._redirect(307, "http://10.1.2.3/admin"),
            "/redirect-loopback": lambda: self._redirect(302, f"http://127.0.0.1:{port}/json"),
            "/redirect-to-localhost": lambda: self._redirect(307, f"http://localhost:{port}/echo"),
            "/redirect-ftp": lambda: self._redirect(302, "ftp://127.0.0.1/file"),
            "/see-other": lambda: self._redirect(303, "/echo"),
            "/temporary": lambda: self._redirect(307, "/echo"),
            "/loop": lambda: self._redirect(302, "/loop"),
            "/big": lambda: self._send(200, BIG_BODY, "application/octet-stream"),
            "/big-unsized": self._big_unsized,
            "/echo": self._echo,
        }
        handler = routes.get(parts.path)
        if handler is None:
            self._send(404, b"not found", "text/plain")
        else:
            handler()

    def _send(self, status, body, content_type, extra_headers=()):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Test-Header", "Present")
        for name, value in extra_headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _redirect(self, status, location):
        self._send(status, b"", "text/plain", [("Location", location)])

    def _slow(self, seconds):
        time.sleep(seconds)
        self._send(200, b"late", "text/plain")

    def _big_unsized(self):
        # HTTP/1.0 without Content-Length: the body ends when the connection closes.
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        self.wfile.write(BIG_BODY)

    def _echo(self):
        length = int(self.headers.get("Content-Length") or 0)
        received = self.rfile.read(length).decode() if length else ""
        payload = {
            "method": self.command,
            "body": received,
            "headers": {name.lower(): value for name, value in self.headers.items()},
        }
        self._send(200, json.dumps(payload).encode(), "application/json")


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # Clients that stop reading (size limit, timeout) make the handler's writes fail.
        pass


@dataclass
class LocalServer:
    port: int

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"


@pytest.fixture(scope="session")
def server() -> Iterator[LocalServer]:
    httpd = _QuietServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield LocalServer(port=httpd.server_address[1])
    finally:
        httpd.shutdown()
        httpd.server_close()


@dataclass
class ConnectionLog:
    attempts: list[str] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)


_LOOPBACK = frozenset({"127.0.0.1", "::1"})


@pytest.fixture(autouse=True)
def connections(monkeypatch) -> Iterator[ConnectionLog]:
    """Record every outgoing connect and refuse any that would leave loopback.

    This only observes the sockets the client opens; it never stands in for the guard. A
    refused connect is also recorded as a violation so the test fails even though the client
    turns the error into an HttpRequestError.
    """
    log = ConnectionLog()
    original_connect = socket.socket.connect
    original_connect_ex = socket.socket.connect_ex

    def check(address):
        host = address[0] if isinstance(address, tuple) else str(address)
        log.attempts.append(host)
        if host not in _LOOPBACK:
            log.violations.append(host)
            raise ConnectionRefusedError(f"test tripwire: refusing to connect to {host}")

    def connect(self, address):
        check(address)
        return original_connect(self, address)

    def connect_ex(self, address):
        check(address)
        return original_connect_ex(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    yield log
    assert log.violations == [], f"a test tried to leave loopback: {log.violations}"
