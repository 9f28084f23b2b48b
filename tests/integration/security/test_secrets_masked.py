"""Secrets sent through every path Weft offers never reach the database, the API, the admin or
the logs in clear, while the activities that need them still receive the real values."""

import io
import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import structlog
from django.db import connection
from django.test import Client

from tests.factories import UserFactory
from tests.integration.execution.conftest import drain_steps, sequence
from workflows.models import WorkflowInstance

pytestmark = pytest.mark.django_db

CARD = "4111111111111111"  # a secret input, passed to a secret activity parameter
SECRETS = {
    "card": CARD,
    "input password": "pw-input-Zx81k",
    "input dsn password": "dsnpass-Qq72",
    "hook api key": "hookkey-Lm30a",
    "hook signature": "sha256=hooksig-Vv19",
    "hook body pwd": "hookpwd-Tt55",
    "hook header pair": "pairsecret-Rr44",
    "hook query token": "querytok-Ee66",
    "outgoing bearer": "bearertok-Ww77",
    "outgoing query key": "outquery-Jj34",
    "receipt token": "rcpt-1111-CONFIDENTIAL",
    "event token": "evtok-Hh45",
    "retained event secret": "retained-Gg56",
    "resume password": "resumepw-Ff67",
}


class _Recorder(BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        headers = {name.lower(): value for name, value in self.headers.items()}
        _Recorder.received.append({"headers": headers, "path": self.path,
                                   "body": self.rfile.read(length).decode()})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"ok": true}')

    def log_message(self, *args):
        pass


@pytest.fixture
def partner_api(settings):
    settings.WEFT_HTTP_ALLOWED_HOSTS = ("127.0.0.1",)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Recorder.received = []
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def payment_definition(partner: str) -> dict:
    return sequence("payment", [
        {"id": "charge", "type": "test.charge",
         "input": {"card_number": {"expr": "input.card"}, "amount": 12.5}},
        {"id": "notify", "type": "SendHttpRequest", "method": "POST",
         "url": {"expr": f"'http://{partner}/charge?api_key=' + input.partner_key + '&page=1'"},
         "headers": {"expr": "{'Authorization': 'Bearer ' + input.api_token, "
                             "'X-Api-Key': input.partner_key}"},
         "body": {"expr": "{'receipt_token': outputs.charge.receipt_token}"}},
        {"id": "wait", "type": "Event", "event": "settled"},
        {"id": "resume", "type": "Event", "event": "refund-checked"},
        {"id": "last4", "type": "SetOutput", "output": "last4",
         "value": {"expr": "outputs.charge.last4"}},
        {"id": "receipt", "type": "SetOutput", "output": "receipt_ok",
         "value": {"expr": "outputs.charge.receipt_token.startswith('rcpt-1111-')"}},
        {"id": "event", "type": "SetOutput", "output": "event_token_length",
         "value": {"expr": "len(outputs.wait.token)"}},
    ], inputs=[{"name": "card", "type": "string", "required": True, "secret": True},
               {"name": "partner_key", "type": "string", "secret": True},
               {"name": "api_token", "type": "string"},
               {"name": "password", "type": "string"}, {"name": "db", "type": "object"}],
        outputs=[{"name": "last4", "type": "string"}, {"name": "receipt_ok", "type": "boolean"},
                 {"name": "event_token_length", "type": "integer"}])


def hook_definition() -> dict:
    return sequence("inbound", [
        {"id": "in", "type": "HttpEndpoint", "path": "/inbound", "trigger": True},
        {"id": "keep", "type": "SetVariable", "variable": "api_key",
         "value": {"expr": "result.headers['x-api-key']"}},
        {"id": "answer", "type": "WriteHttpResponse", "status": 200,
         "body": {"expr": "{'key_length': len(variables.api_key)}"}},
    ], variables=[{"name": "api_key", "type": "string"}])


@pytest.fixture
def json_logs():
    """The log lines, at INFO, as the production pipeline writes them (JSON)."""
    from config.logs import configure_logging

    configure_logging(level="INFO", fmt="json")
    written = io.StringIO()
    (handler,) = logging.getLogger().handlers
    handler.setStream(written)
    yield written
    configure_logging(level="WARNING", fmt="json")


def all_database_text() -> str:
    chunks = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f'SELECT t::text FROM "{table}" t')
            chunks += [f"[{table}] " + row[0] for row in cursor.fetchall()]
    return "\n".join(chunks)


def leaks(text: str) -> list[str]:
    return [name for name, secret in SECRETS.items() if secret in text]


def test_secrets_through_every_path_are_masked_where_stored_and_shown(
        tenant, publish, member_client, partner_api, json_logs):
    log = structlog.get_logger("weft.test")
    log.info("probe", note="logging works")
    # What log masking used to miss: keys such as auth, pwd, bearer, signature and dsn,
    # header pairs in lists, credentials in URLs and in text.
    log.warning("outgoing call", auth=SECRETS["hook api key"], pwd=SECRETS["hook body pwd"],
                bearer=SECRETS["outgoing bearer"], signature=SECRETS["hook signature"],
                dsn=f"postgres://app:{SECRETS['input dsn password']}@db/app",
                headers=[["X-Api-Key", SECRETS["hook header pair"]], ["Accept", "json"]],
                url=f"https://api.example/v1?token={SECRETS['hook query token']}")
    log.warning(f"retrying with Authorization: Bearer {SECRETS['event token']}")
    operator = member_client("operator")
    publish(payment_definition(partner_api))
    publish(sequence("retained-waiter", [
        {"id": "w", "type": "Event", "event": "late-secret"},
        {"id": "out", "type": "SetOutput", "output": "n", "value": {"expr": "len(result.dsn)"}},
    ], outputs=[{"name": "n", "type": "integer"}]))
    publish(hook_definition())

    # 1. Instance input: a secret input, a well-known key, credentials in a URL.
    started = operator.post("/api/v1/definitions/payment/dispatch/", {"input": {
        "card": CARD, "password": SECRETS["input password"],
        "partner_key": SECRETS["outgoing query key"], "api_token": SECRETS["outgoing bearer"],
        "db": {"url": f"postgres://app:{SECRETS['input dsn password']}@db/app"}},
        "correlation_id": "order-1"}, format="json")
    assert started.status_code == 202, started.content
    instance_id = started.json()["id"]
    drain_steps()
    # 2. Event payload resuming a wait; 3. a retained event; 4. a bookmark resume payload.
    published = operator.post("/api/v1/events/settled/", {
        "payload": {"token": SECRETS["event token"]}, "correlation_id": "order-1"},
        format="json")
    assert published.status_code == 200 and published.json()["resumed"], published.content
    drain_steps()
    operator.post("/api/v1/events/late-secret/", {"payload": {
        "dsn": f"https://sentry:{SECRETS['retained event secret']}@errors.example/1"},
        "retain_seconds": 300}, format="json")
    (bookmark,) = operator.get(f"/api/v1/instances/{instance_id}/bookmarks/").json()["results"]
    resumed = operator.post(f"/api/v1/bookmarks/{bookmark['id']}/resume/", {
        "payload": {"password": SECRETS["resume password"]}}, format="json")
    assert resumed.status_code == 200, resumed.content
    drain_steps()
    # 5. A hook request: secret headers, a header pair list and a password in the body.
    hook = Client().post(
        f"/hooks/acme/inbound?token={SECRETS['hook query token']}",
        data=json.dumps({"pwd": SECRETS["hook body pwd"],
                         "forward": [["X-Api-Key", SECRETS["hook header pair"]]]}),
        content_type="application/json", HTTP_X_API_KEY=SECRETS["hook api key"],
        HTTP_X_HUB_SIGNATURE_256=SECRETS["hook signature"])
    assert hook.status_code == 200 and hook.json() == {"key_length": 13}

    # The activities received the real values, and later steps read sealed ones back.
    instance = WorkflowInstance.objects.get(pk=instance_id)
    assert instance.status == "finished", instance.incidents.values("message")
    assert instance.output == {"last4": "1111", "receipt_ok": True,
                               "event_token_length": len(SECRETS["event token"])}
    (call,) = _Recorder.received
    assert call["headers"]["authorization"] == f"Bearer {SECRETS['outgoing bearer']}"
    assert call["headers"]["x-api-key"] == SECRETS["outgoing query key"]
    assert SECRETS["outgoing query key"] in call["path"]
    assert SECRETS["receipt token"] in call["body"]

    # Nothing in clear in any table.
    rows = all_database_text().splitlines()
    assert [(leaks(row), row[:80]) for row in rows if leaks(row)] == []

    # Nothing in clear in the API.
    shown = []
    instances = operator.get("/api/v1/instances/?page_size=500").json()["results"]
    assert {row["definition_id"] for row in instances} >= {"payment", "inbound"}
    for row in instances:
        for suffix in ("", "journal/", "activity-executions/", "bookmarks/"):
            response = operator.get(f"/api/v1/instances/{row['id']}/{suffix}")
            assert response.status_code == 200
            shown.append(response.content.decode())
    api_text = "\n".join(shown)
    assert leaks(api_text) == []
    assert '"card_number":"***"' in api_text and '"password":"***"' in api_text

    # Nothing in clear in the admin.
    root = Client()
    root.force_login(UserFactory(is_staff=True, is_superuser=True))
    pages = []
    for model in ("workflowinstance", "journalentry", "activityexecution", "step",
                  "bookmark", "incident"):
        listing = root.get(f"/admin/workflows/{model}/")
        if listing.status_code == 404:  # not registered in the admin
            continue
        pages.append(listing.content.decode())
    from workflows.models import ActivityExecution, JournalEntry, Step

    for model, queryset in (("workflowinstance", WorkflowInstance.objects.all()),
                            ("journalentry", JournalEntry.objects.all()),
                            ("activityexecution", ActivityExecution.objects.all()),
                            ("step", Step.objects.all())):
        for pk in queryset.values_list("pk", flat=True):
            page = root.get(f"/admin/workflows/{model}/{pk}/change/")
            assert page.status_code == 200, (model, pk)
            pages.append(page.content.decode())
    assert [(leaks(page), page[:200]) for page in pages if leaks(page)] == []

    # Nothing in clear in the logs.
    logs = json_logs.getvalue()
    assert "logging works" in logs and "request_finished" in logs
    assert '"pwd": "***"' in logs and '"headers": [["X-Api-Key", "***"]' in logs
    assert leaks(logs) == []
