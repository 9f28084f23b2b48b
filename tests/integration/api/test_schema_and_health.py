import pytest

pytestmark = pytest.mark.django_db

EXPECTED_PATHS = {
    "/api/v1/auth/token/": {"post"},
    "/api/v1/auth/token/refresh/": {"post"},
    "/api/v1/definitions/": {"get", "post"},
    "/api/v1/definitions/validate/": {"post"},
    "/api/v1/definitions/{definition_id}/": {"get", "put", "delete"},
    "/api/v1/definitions/{definition_id}/publish/": {"post"},
    "/api/v1/definitions/{definition_id}/retract/": {"post"},
    "/api/v1/definitions/{definition_id}/versions/": {"get"},
    "/api/v1/definitions/{definition_id}/versions/{version}/": {"get"},
    "/api/v1/definitions/{definition_id}/execute/": {"post"},
    "/api/v1/definitions/{definition_id}/dispatch/": {"post"},
    "/api/v1/instances/": {"get"},
    "/api/v1/instances/{instance_id}/": {"get", "delete"},
    "/api/v1/instances/{instance_id}/cancel/": {"post"},
    "/api/v1/instances/{instance_id}/suspend/": {"post"},
    "/api/v1/instances/{instance_id}/resume/": {"post"},
    "/api/v1/instances/{instance_id}/retry/": {"post"},
    "/api/v1/instances/{instance_id}/journal/": {"get"},
    "/api/v1/instances/{instance_id}/activity-executions/": {"get"},
    "/api/v1/instances/{instance_id}/bookmarks/": {"get"},
    "/api/v1/events/{name}/": {"post"},
    "/api/v1/bookmarks/{bookmark_id}/resume/": {"post"},
    "/api/v1/activity-types/": {"get"},
    "/api/v1/workers/": {"get"},
    "/api/v1/dead-letters/": {"get"},
    "/api/v1/dead-letters/{dead_letter_id}/redrive/": {"post"},
}


def test_openapi_schema_documents_every_endpoint_with_shapes(anonymous):
    response = anonymous.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    for path, methods in EXPECTED_PATHS.items():
        assert path in schema["paths"], path
        documented = schema["paths"][path]
        assert methods <= set(documented), (path, set(documented))
        for method in methods:
            operation = documented[method]
            assert operation.get("summary") or path.startswith("/api/v1/auth"), (path, method)
            ok = next(code for code in operation["responses"] if code.startswith("2"))
            if ok != "204":
                assert "content" in operation["responses"][ok], (path, method)
    assert "Definition" in schema["components"]["schemas"]
    assert "Error" in schema["components"]["schemas"]


def test_swagger_ui_is_served(anonymous):
    page = anonymous.get("/api/docs/")
    assert page.status_code == 200
    assert b"swagger" in page.content.lower()


def test_healthz_and_readyz(anonymous):
    assert anonymous.get("/healthz").json() == {"status": "ok"}
    ready = anonymous.get("/readyz").json()
    assert ready == {"status": "ready", "checks": {"database": "ok", "cache": "ok"}}


def test_unknown_api_path_is_a_json_404(anonymous, settings):
    settings.DEBUG = False
    response = anonymous.get("/api/v1/nothing-here/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_method_not_allowed_is_in_the_error_format(editor):
    response = editor.patch("/api/v1/definitions/", {}, format="json")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


def test_metrics_expose_the_definition_cache_counters(anonymous, editor):
    editor.post("/api/v1/definitions/", {"name": "m", "root": {"type": "WriteLine", "id": "w",
                                                               "text": "x"}}, format="json")
    editor.post("/api/v1/definitions/m/publish/")
    editor.post("/api/v1/definitions/m/execute/", {}, format="json")
    body = anonymous.get("/metrics").content.decode()
    assert "weft_definition_cache_requests_total" in body


def refuse_database(*args, **kwargs):
    from django.db import OperationalError

    raise OperationalError("connection to server at 127.0.0.1 failed: Connection refused")


def test_a_database_outage_in_an_api_view_is_a_503_with_retry_after(editor, monkeypatch):
    monkeypatch.setattr("api.views.definitions.definition_list", refuse_database)
    response = editor.get("/api/v1/definitions/")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "database_unavailable"
    assert response["Retry-After"] == "5"


def test_a_database_outage_in_a_hook_is_a_503_with_retry_after(db, monkeypatch):
    from django.test import Client

    monkeypatch.setattr("api.views.hooks.hook_handle", refuse_database)
    response = Client().post("/hooks/acme/orders/1", data="{}", content_type="application/json")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "database_unavailable"
    assert response["Retry-After"] == "5"
