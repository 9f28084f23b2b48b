"""A tenant secret used by a workflow on a real web server and real worker processes over the
local SQS server: the remote service receives the value; the database, the API and every log
line the processes wrote never hold it."""

import json
from pathlib import Path

import pytest
from django.db import connection

from tests.e2e.conftest import publish_definition
from tests.e2e.support.fixtures import E2E_PASSWORD, sqs_env
from tests.e2e.support.platform import (
    Api,
    WebServer,
    platform_env,
    start_worker,
    stop_all,
    wait_until,
)
from tests.support.local_http import JsonHandler, serving
from workflows.services.tenancy import tenant_member_ensure

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SECRET = "e2e-Secret-Value-9q8w7e6r"


class _Service(JsonHandler):
    received: list = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        _Service.received.append((self.headers.get("X-Api-Key"), json.loads(body)))
        # Echoes what it got, as careless services do.
        self.reply_json({"key": self.headers.get("X-Api-Key")})


@pytest.fixture
def service():
    _Service.received = []
    with serving(_Service) as url:
        yield url


@pytest.fixture(scope="module")
def platform(local_sqs, e2e_database):
    env = platform_env(sqs_env(local_sqs), e2e_database, WEFT_HTTP_ALLOWED_HOSTS="127.0.0.1")
    from tests.e2e.support.fixtures import ensure_test_queues

    ensure_test_queues(env)
    web = WebServer(env)
    workers = [start_worker(env, "secrets-w1")]
    try:
        yield web, workers
    finally:
        stop_all(workers)
        web.stop()


def test_a_secret_crosses_real_processes_without_being_stored_or_logged(platform, service):
    web, workers = platform
    membership = tenant_member_ensure(tenant_slug="e2e-secrets", username="e2e-secrets-admin",
                                      role="admin", password=E2E_PASSWORD)
    api = Api(web.url, "e2e-secrets-admin", E2E_PASSWORD)
    assert api.post("/secrets/", {"name": "SERVICE_KEY", "value": SECRET}).status_code == 201
    publish_definition(api, {
        "definition_id": "calls-service", "name": "calls-service",
        "outputs": [{"name": "reply", "type": "any"}, {"name": "probe", "type": "any"}],
        "root": {"type": "Sequence", "id": "main", "activities": [
            {"id": "call", "type": "SendHttpRequest", "url": service, "method": "POST",
             "headers": {"expr": "{'X-Api-Key': secrets.SERVICE_KEY}"},
             "body": {"expr": "{'signature': 'sig-' + secrets.SERVICE_KEY}"},
             "expected_status": [200]},
            {"id": "reply", "type": "SetOutput", "output": "reply", "value": {"expr": "result"}},
            {"id": "probe", "type": "test.secret_probe",
             "input": {"token": {"template": "{{ secrets.SERVICE_KEY }}"}}},
            {"id": "probed", "type": "SetOutput", "output": "probe",
             "value": {"expr": "result"}},
        ]},
    })
    started = api.post("/definitions/calls-service/dispatch/", {})
    assert started.status_code == 202
    instance_id = started.json()["id"]
    instance = wait_until(
        lambda: (lambda i: i if i["status"] in ("finished", "faulted") else None)(
            api.get(f"/instances/{instance_id}/").json()),
        timeout=60, what="the instance to finish")
    assert instance["status"] == "finished", instance
    assert _Service.received == [(SECRET, {"signature": f"sig-{SECRET}"})]
    assert instance["output"]["reply"]["body"] == {"key": "***"}
    assert instance["output"]["probe"]["echo"] == "got ***"

    shown = "".join(api.get(path).text for path in (
        f"/instances/{instance_id}/", f"/instances/{instance_id}/journal/",
        f"/instances/{instance_id}/activity-executions/", "/secrets/", "/dead-letters/"))
    assert SECRET not in shown
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f'SELECT count(*) FROM "{table}" t WHERE t::text LIKE %s',
                           [f"%{SECRET}%"])
            assert cursor.fetchone()[0] == 0, f"the secret is stored in {table}"
    logs = [web.log_path.read_text(errors="replace")] + [
        Path(worker.log_path).read_text(errors="replace") for worker in workers]
    assert any("probe_got_token" in text for text in logs)
    assert not any(SECRET in text for text in logs)
    membership.tenant.delete()
