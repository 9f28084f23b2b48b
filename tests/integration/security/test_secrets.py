"""Tenant secrets: managed through the API (values write-only), encrypted at rest, used by a
workflow in an HTTP header, a template and a user activity, and then searched for everywhere
Weft stores or shows anything: every database table, the API, the admin and the logs."""

import hashlib
import json
import logging

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection

from config.logs import configure_logging
from tests.conftest import client_for
from tests.factories import MembershipFactory, UserFactory
from tests.integration.execution.conftest import drain_steps
from tests.support.local_http import JsonHandler, serving

pytestmark = pytest.mark.django_db

SECRET = "tok-5ecret-Value-0f-acme-7781"


class _Recorder(JsonHandler):
    received: list = []

    def do_GET(self):
        sent = self.headers.get("Authorization")
        _Recorder.received.append(sent)
        # A service that echoes credentials back: the output must still not keep them.
        self.reply_json({"you_sent": sent}, headers={"X-Echo": sent or ""})


@pytest.fixture
def echo_server(settings):
    settings.WEFT_HTTP_ALLOWED_HOSTS = ("127.0.0.1",)
    _Recorder.received = []
    with serving(_Recorder) as url:
        yield url


@pytest.fixture
def admin(tenant):
    return client_for(MembershipFactory(tenant=tenant, role="admin").user)


def uses_secret(url: str, definition_id: str = "uses-secret") -> dict:
    return {
        "definition_id": definition_id, "name": definition_id,
        "inputs": [{"name": "extra", "type": "string", "default": ""}],
        "variables": [{"name": "copy", "type": "string"}],
        "outputs": [{"name": "echoed", "type": "any"}, {"name": "probe", "type": "any"},
                    {"name": "leak", "type": "string"}],
        "root": {"type": "Sequence", "id": "main", "activities": [
            {"id": "call", "type": "SendHttpRequest", "url": url, "method": "GET",
             "headers": {"expr": "{'Authorization': 'Bearer ' + secrets.API_TOKEN, "
                                 "'X-Extra': input.extra}"},
             "expected_status": [200]},
            {"id": "echoed", "type": "SetOutput", "output": "echoed", "value": {"expr": "result"}},
            {"id": "say", "type": "WriteLine",
             "text": {"template": "the token is {{ secrets.API_TOKEN }}"}},
            {"id": "keep", "type": "SetVariable", "variable": "copy",
             "value": {"expr": "secrets['API_TOKEN']"}},
            {"id": "probe", "type": "test.secret_probe",
             "input": {"token": {"expr": "secrets.API_TOKEN"}}},
            {"id": "probed", "type": "SetOutput", "output": "probe", "value": {"expr": "result"}},
            {"id": "leak", "type": "SetOutput", "output": "leak",
             "value": {"expr": "variables.copy + '/' + secrets.API_TOKEN"}},
        ]},
    }


def publish(client, body: dict) -> None:
    assert client.post("/api/v1/definitions/", body, format="json").status_code == 201
    published = client.post(f"/api/v1/definitions/{body['definition_id']}/publish/")
    assert published.status_code == 200, published.content


def every_row_as_text() -> str:
    """The whole database of this test as text (every table, every row)."""
    pieces = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f'SELECT t::text FROM "{table}" t')
            pieces += [row[0] for row in cursor.fetchall()]
    return "\n".join(pieces)


# ---- managing secrets ---------------------------------------------------------------------


def test_admins_create_and_replace_secrets_whose_values_are_never_returned(admin):
    created = admin.post("/api/v1/secrets/", {"name": "API_TOKEN", "value": SECRET},
                         format="json")
    assert created.status_code == 201
    assert set(created.json()) == {"name", "created_at", "updated_at"}
    replaced = admin.put("/api/v1/secrets/API_TOKEN/", {"value": SECRET + "-v2"},
                         format="json")
    assert replaced.status_code == 200
    assert admin.put("/api/v1/secrets/OTHER/", {"value": "abcd"},
                     format="json").status_code == 201
    listed = admin.get("/api/v1/secrets/").json()
    assert [s["name"] for s in listed["results"]] == ["API_TOKEN", "OTHER"]
    detail = admin.get("/api/v1/secrets/API_TOKEN/")
    for response in (created, replaced, detail):
        assert SECRET not in response.content.decode()
    assert SECRET not in json.dumps(listed)
    assert admin.delete("/api/v1/secrets/OTHER/").status_code == 204
    assert admin.get("/api/v1/secrets/OTHER/").status_code == 404


def test_secret_input_errors_are_clear_400s_and_duplicates_409(admin):
    bad_name = admin.post("/api/v1/secrets/", {"name": "no-dashes", "value": SECRET},
                          format="json")
    assert bad_name.status_code == 400
    assert bad_name.json()["error"]["details"]["errors"][0]["path"] == "name"
    short = admin.post("/api/v1/secrets/", {"name": "SHORT", "value": "abc"}, format="json")
    assert short.status_code == 400
    assert short.json()["error"]["details"]["errors"][0]["path"] == "value"
    missing = admin.post("/api/v1/secrets/", {"name": "X"}, format="json")
    assert missing.status_code == 400
    assert admin.post("/api/v1/secrets/", {"name": "DUP", "value": SECRET},
                      format="json").status_code == 201
    again = admin.post("/api/v1/secrets/", {"name": "DUP", "value": SECRET}, format="json")
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "secret_exists"


def test_only_admins_write_editors_read_names_and_other_tenants_see_nothing(
        admin, member_client, other_editor, other_tenant):
    assert admin.post("/api/v1/secrets/", {"name": "API_TOKEN", "value": SECRET},
                      format="json").status_code == 201
    editor, viewer = member_client("editor"), member_client("viewer")
    assert editor.get("/api/v1/secrets/").status_code == 200
    assert editor.post("/api/v1/secrets/", {"name": "MINE", "value": SECRET},
                       format="json").status_code == 403
    assert editor.put("/api/v1/secrets/API_TOKEN/", {"value": "overwritten"},
                      format="json").status_code == 403
    assert viewer.get("/api/v1/secrets/").status_code == 403
    assert other_editor.get("/api/v1/secrets/API_TOKEN/").status_code == 404
    assert other_editor.get("/api/v1/secrets/").json()["results"] == []
    other_admin = client_for(MembershipFactory(tenant=other_tenant, role="admin").user)
    assert other_admin.delete("/api/v1/secrets/API_TOKEN/").status_code == 404


def test_values_are_encrypted_at_rest_and_keys_rotate(admin, settings):
    old_key, new_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.WEFT_SECRETS_KEYS = (old_key,)
    admin.post("/api/v1/secrets/", {"name": "API_TOKEN", "value": SECRET}, format="json")
    assert SECRET not in every_row_as_text()
    from workflows.models import Secret

    stored = Secret.objects.get(name="API_TOKEN").ciphertext
    assert Fernet(old_key).decrypt(stored.encode()).decode() == SECRET
    settings.WEFT_SECRETS_KEYS = (new_key, old_key)
    call_command("weft_rotate_secrets")
    rotated = Secret.objects.get(name="API_TOKEN").ciphertext
    assert rotated != stored
    assert Fernet(new_key).decrypt(rotated.encode()).decode() == SECRET


def test_rotation_without_the_old_key_fails_clearly(admin, settings):
    settings.WEFT_SECRETS_KEYS = (Fernet.generate_key().decode(),)
    admin.post("/api/v1/secrets/", {"name": "API_TOKEN", "value": SECRET}, format="json")
    settings.WEFT_SECRETS_KEYS = (Fernet.generate_key().decode(),)
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="cannot be decrypted"):
        call_command("weft_rotate_secrets")


# ---- using secrets ------------------------------------------------------------------------


def test_a_secret_reaches_the_http_call_and_user_activity_but_nothing_stored_or_shown(
        admin, echo_server, capsys):
    run_and_search(admin, echo_server, capsys, "execute")


@pytest.mark.django_db(transaction=True)
def test_on_the_workers_too(admin, echo_server, capsys):
    """Committed for real: a worker runs an HTTP task in its own thread (and connection)."""
    run_and_search(admin, echo_server, capsys, "workers")


def run_and_search(admin, echo_server, capsys, mode: str) -> None:
    assert admin.post("/api/v1/secrets/", {"name": "API_TOKEN", "value": SECRET},
                      format="json").status_code == 201
    publish(admin, uses_secret(f"{echo_server}/check"))
    configure_logging(level="INFO", fmt="json")
    try:
        if mode == "execute":
            response = admin.post("/api/v1/definitions/uses-secret/execute/", {}, format="json")
            assert response.status_code == 200, response.content
            instance_id = response.json()["id"]
        else:
            response = admin.post("/api/v1/definitions/uses-secret/dispatch/", {},
                                  format="json")
            assert response.status_code == 202
            instance_id = response.json()["id"]
            drain_steps()
    finally:
        configure_logging(level="WARNING", fmt="json")
    logs = capsys.readouterr().err
    logging.getLogger().handlers[0].flush()

    # The real value went where the definition sent it.
    assert _Recorder.received == [f"Bearer {SECRET}"]
    instance = admin.get(f"/api/v1/instances/{instance_id}/").json()
    assert instance["status"] == "finished", instance
    output = instance["output"]
    assert output["probe"]["sha256"] == hashlib.sha256(SECRET.encode()).hexdigest()
    # ... and nowhere else: what it produced is masked.
    assert output["probe"]["echo"] == "got ***"
    assert output["echoed"]["body"] == {"you_sent": "Bearer ***"}
    assert output["leak"] == "***/***"
    assert instance["variables"]["copy"] == "***"

    shown = [admin.get(url).content.decode() for url in (
        f"/api/v1/instances/{instance_id}/",
        f"/api/v1/instances/{instance_id}/journal/",
        f"/api/v1/instances/{instance_id}/activity-executions/",
        f"/api/v1/instances/{instance_id}/bookmarks/",
        "/api/v1/instances/", "/api/v1/definitions/uses-secret/", "/api/v1/secrets/",
        "/api/v1/dead-letters/")]
    journal = json.loads(shown[1])
    assert any("the token is ***" in json.dumps(entry) for entry in journal["results"])
    assert not any(SECRET in text for text in shown)
    assert SECRET not in every_row_as_text()
    assert "probe_got_token" in logs
    assert SECRET not in logs


def test_a_failing_task_does_not_leak_the_secret_in_its_error(admin, echo_server):
    admin.post("/api/v1/secrets/", {"name": "FAILING", "value": "fail:" + SECRET},
               format="json")
    publish(admin, {
        "definition_id": "fails", "name": "fails",
        "root": {"type": "Sequence", "id": "main", "activities": [
            {"id": "probe", "type": "test.secret_probe", "retry": {"max_attempts": 1},
             "input": {"token": {"expr": "secrets.FAILING"}}}]}})
    instance = admin.post("/api/v1/definitions/fails/execute/", {}, format="json").json()
    assert instance["status"] == "faulted"
    assert "refusing ***" in json.dumps(instance["incidents"])
    assert SECRET not in every_row_as_text()


def test_an_unknown_secret_is_refused_at_save_time_with_its_path(admin):
    body = uses_secret("http://127.0.0.1:9/")
    response = admin.post("/api/v1/definitions/", body, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "unknown_secret"
    paths = {e["path"] for e in error["details"]["errors"]}
    assert "root.activities[0].headers" in paths
    assert "root.activities[2].text" in paths


def test_a_secret_deleted_after_publishing_is_an_incident_at_run_time(admin):
    admin.post("/api/v1/secrets/", {"name": "GONE", "value": SECRET}, format="json")
    publish(admin, {
        "definition_id": "gone", "name": "gone",
        "root": {"type": "Sequence", "id": "main", "activities": [
            {"id": "say", "type": "WriteLine", "text": {"expr": "secrets.GONE"}}]}})
    assert admin.delete("/api/v1/secrets/GONE/").status_code == 204
    instance = admin.post("/api/v1/definitions/gone/execute/", {}, format="json").json()
    assert instance["status"] == "faulted"
    assert "unknown secret 'GONE'" in instance["incidents"][0]["message"]


def test_secrets_of_another_tenant_cannot_be_read(admin, other_tenant):
    other_admin = client_for(MembershipFactory(tenant=other_tenant, role="admin").user)
    other_admin.post("/api/v1/secrets/", {"name": "THEIRS", "value": SECRET}, format="json")
    # Saving is refused (the name is unknown here) ...
    body = {"definition_id": "steal", "name": "steal",
            "outputs": [{"name": "got", "type": "any"}],
            "root": {"type": "Sequence", "id": "main", "activities": [
                {"id": "o", "type": "SetOutput", "output": "got",
                 "value": {"expr": "secrets.THEIRS"}}]}}
    assert admin.post("/api/v1/definitions/", body, format="json").status_code == 400


def test_marker_text_in_input_is_not_expanded_into_a_secret(admin, echo_server):
    """Task inputs carry signed markers instead of values; a marker typed into an instance's
    input (even one copied from another instance) stays plain text."""
    from runtime.engine.secrets import _signature

    admin.post("/api/v1/secrets/", {"name": "API_TOKEN", "value": SECRET}, format="json")
    publish(admin, uses_secret(f"{echo_server}/check"))
    forged = f"[[weft-secret:API_TOKEN:{_signature('another-instance', 'API_TOKEN')}]]"
    instance = admin.post("/api/v1/definitions/uses-secret/execute/",
                          {"input": {"extra": forged}}, format="json").json()
    assert instance["status"] == "finished"
    records = admin.get(f"/api/v1/instances/{instance['id']}/activity-executions/").json()
    call = next(r for r in records["results"] if r["activity_id"] == "call")
    assert call["input"]["headers"]["X-Extra"] == forged
    assert SECRET not in every_row_as_text()


def test_the_admin_takes_a_write_only_value(tenant):
    from workflows.models import Secret
    from workflows.services.secrets import secret_decrypt

    root = UserFactory(username="root", is_staff=True, is_superuser=True)
    from django.test import Client

    client = Client()
    client.force_login(root)
    response = client.post("/admin/workflows/secret/add/",
                           {"tenant": tenant.pk, "name": "FROM_ADMIN", "value": SECRET})
    assert response.status_code == 302, response.content.decode()[:2000]
    secret = Secret.objects.get(name="FROM_ADMIN")
    assert secret_decrypt(secret) == SECRET
    page = client.get(f"/admin/workflows/secret/{secret.pk}/change/").content.decode()
    assert "FROM_ADMIN" in page
    assert SECRET not in page
    assert SECRET not in client.get("/admin/workflows/secret/").content.decode()
    # Saving the form empty keeps the value.
    assert client.post(f"/admin/workflows/secret/{secret.pk}/change/",
                       {"value": ""}).status_code == 302
    secret.refresh_from_db()
    assert secret_decrypt(secret) == SECRET


def test_listing_secrets_costs_the_same_queries_however_many_there_are(admin):
    from django.test.utils import CaptureQueriesContext

    def list_queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert admin.get("/api/v1/secrets/").status_code == 200
        return len(captured)

    admin.post("/api/v1/secrets/", {"name": "S0", "value": SECRET}, format="json")
    few = list_queries()
    for index in range(1, 25):
        admin.post("/api/v1/secrets/", {"name": f"S{index}", "value": SECRET}, format="json")
    assert list_queries() == few
