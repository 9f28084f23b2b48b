"""A stand-in OTLP/HTTP collector for `bench.tracing_cost`, run as a process of its own.

It answers each export at once (HTTP/1.1, keep-alive, as a collector does) and only keeps the
bodies; it decodes them when asked (`GET /stats`, between runs), so that decoding spans does not
compete with the run being measured. `GET /stats` returns and forgets what arrived since the
last call: requests, bytes, and spans by instrumentation scope.

    python -m bench.otlp_sink     # prints "listening <port>", then serves until killed
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

REPLY = ExportTraceServiceResponse().SerializeToString()


class Sink:
    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self.lock = threading.Lock()

    def add(self, body: bytes) -> None:
        with self.lock:
            self.bodies.append(body)

    def stats(self) -> dict:
        with self.lock:
            bodies, self.bodies = self.bodies, []
        scopes: Counter = Counter()
        for body in bodies:
            request = ExportTraceServiceRequest.FromString(body)
            for resource_spans in request.resource_spans:
                for scope_spans in resource_spans.scope_spans:
                    scopes[scope_spans.scope.name] += len(scope_spans.spans)
        return {"requests": len(bodies), "bytes": sum(len(b) for b in bodies),
                "spans": sum(scopes.values()), "scopes": dict(scopes)}


def serve(port: int = 0) -> ThreadingHTTPServer:
    sink = Sink()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):  # quiet
            pass

        def _reply(self, body: bytes, content_type: str) -> None:
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self):
            sink.add(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
            self._reply(REPLY, "application/x-protobuf")

        def do_GET(self):
            self._reply(json.dumps(sink.stats()).encode(), "application/json")

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    return server


def main() -> None:
    server = serve()
    print(f"listening {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
