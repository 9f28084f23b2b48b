"""SendHttpRequest through the engine and a real local HTTP server (the only edge here)."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.integration.execution.conftest import sequence
from workflows.services.inline import instance_execute

pytestmark = pytest.mark.django_db


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        sent = json.loads(self.rfile.read(length) or b"null")
        body = json.dumps({"echo": sent, "path": self.path}).encode()
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def local_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def call(url: str) -> dict:
    return sequence("caller", [
        {"id": "call", "type": "SendHttpRequest", "url": url, "method": "POST",
         "body": {"expr": "{'n': input.n}"}, "expected_status": [201]},
        {"id": "out", "type": "SetOutput", "output": "reply", "value": {"expr": "result.body"}},
    ], inputs=[{"name": "n", "type": "integer", "default": 1}],
        outputs=[{"name": "reply", "type": "any"}])


def test_send_http_request_calls_an_allowed_host(tenant, publish, local_server, settings):
    settings.WEFT_HTTP_ALLOWED_HOSTS = ("127.0.0.1",)
    publish(call(f"{local_server}/orders"))
    instance = instance_execute(tenant=tenant, definition_id="caller", input={"n": 7})
    assert instance.status == "finished"
    assert instance.output == {"reply": {"echo": {"n": 7}, "path": "/orders"}}
    record = instance.activity_executions.get(activity_id="call")
    assert record.outcome == "201"


def test_send_http_request_refuses_loopback_by_default(tenant, publish, local_server):
    publish(call(f"{local_server}/orders"))
    instance = instance_execute(tenant=tenant, definition_id="caller")
    record = instance.activity_executions.get(activity_id="call")
    # The guard refuses before connecting; the `failed` outcome is connected to nothing in a
    # Sequence, so the failure faults the activity instead of passing for a success.
    assert instance.status == "faulted"
    assert record.status == "faulted"
    assert "blocked" in json.dumps(record.output or record.error or "")
    incident = instance.incidents.get()
    assert incident.code == "unrouted_failure" and incident.activity_id == "call"
    # A described failure of a built-in activity carries no Python traceback (its message
    # says it all); tracebacks are for user code.
    assert "traceback" not in incident.data and record.traceback == ""
    assert instance.output.get("reply") is None


def test_an_unrouted_http_failure_is_retried_by_an_operator_once_fixed(
        tenant, publish, local_server, settings):
    from tests.integration.execution.conftest import drain_steps
    from workflows.services.instance_actions import instance_retry

    publish(call(f"{local_server}/orders"))
    instance = instance_execute(tenant=tenant, definition_id="caller", input={"n": 3})
    assert instance.status == "faulted"
    settings.WEFT_HTTP_ALLOWED_HOSTS = ("127.0.0.1",)
    instance_retry(tenant=tenant, instance_id=instance.id)
    drain_steps()
    instance.refresh_from_db()
    assert instance.status == "finished"
    assert instance.output == {"reply": {"echo": {"n": 3}, "path": "/orders"}}


def test_a_definition_that_opts_in_continues_after_an_unrouted_failure(
        tenant, publish, local_server):
    body = call(f"{local_server}/orders")
    body["options"] = {"unrouted_failure": "continue"}
    publish(body)
    instance = instance_execute(tenant=tenant, definition_id="caller")
    assert instance.status == "finished"
    assert instance.activity_executions.get(activity_id="call").outcome == "failed"
