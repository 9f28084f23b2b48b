"""The API documents itself: offline docs pages, one summary and description per operation,
the tenant header and the error envelope everywhere, readable component names, an index."""

import re

import pytest
from django.contrib.staticfiles import finders

from api.schema import OPERATIONS

pytestmark = pytest.mark.django_db

URL = re.compile(r"""(?:https?:)?//[^\s"'<>)]+""")


def _schema(client) -> dict:
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    return response.json()


def _operations(schema):
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            yield path, method, operation


@pytest.mark.parametrize("page", ["/api/docs/", "/api/redoc/"])
def test_docs_pages_load_nothing_from_outside(anonymous, page):
    response = anonymous.get(page)
    assert response.status_code == 200
    html = response.content.decode()
    assert URL.findall(html) == []
    assets = re.findall(r"""(?:src|href)=["']([^"']+)["']""", html)
    local = [a for a in assets if a.startswith("/static/")]
    assert local, assets
    for asset in local:
        # Every asset the page loads is a file this project serves (the pinned sidecar).
        assert finders.find(asset.removeprefix("/static/")), asset


def test_every_operation_has_its_own_summary_and_description(anonymous):
    schema = _schema(anonymous)
    seen_summaries, seen_descriptions = set(), set()
    for path, method, operation in _operations(schema):
        assert (method, path) in OPERATIONS, f"{method.upper()} {path} has no words in api/schema"
        summary, description = operation["summary"], operation["description"]
        assert summary and description and summary != description
        assert summary not in seen_summaries and description not in seen_descriptions, path
        seen_summaries.add(summary)
        seen_descriptions.add(description)
    assert {(m, p) for p, m, _ in _operations(schema)} == set(OPERATIONS)
    tags = {t["name"] for t in schema["tags"]}
    for path, method, operation in _operations(schema):
        assert len(operation["tags"]) == 1 and operation["tags"][0] in tags, (path, method)
    assert schema["paths"]["/api/v1/events/{name}/"]["post"]["tags"] == ["events"]


def test_tenant_header_and_error_envelope_are_on_every_operation(anonymous):
    schema = _schema(anonymous)
    public = {"/api/v1/", "/api/v1/auth/token/", "/api/v1/auth/token/refresh/"}
    for path, method, operation in _operations(schema):
        for code in ("400", "429", "500"):
            content = operation["responses"][code]["content"]["application/json"]
            assert content["schema"] == {"$ref": "#/components/schemas/Error"}, (path, code)
        if path in public:
            continue
        headers = [p for p in operation["parameters"] if p["in"] == "header"]
        assert "X-Weft-Tenant" in [h["name"] for h in headers], (path, method)
        for code in ("401", "403", "404", "409"):
            assert code in operation["responses"], (path, method, code)
    error = schema["components"]["schemas"]["ErrorDetail"]["properties"]
    assert set(error) == {"code", "message", "details"}


def test_component_names_read_well(anonymous):
    names = set(_schema(anonymous)["components"]["schemas"])
    assert not [n for n in names if "RequestRequest" in n]
    assert {"StartRequest", "EventRequest", "ResumeRequest", "InstanceDetail", "WaitingOn",
            "Error"} <= names


def test_schema_is_viewable_in_a_browser(anonymous):
    browser = anonymous.get("/api/schema/", HTTP_ACCEPT="text/html,application/xhtml+xml,"
                            "application/xml;q=0.9,*/*;q=0.8")
    assert browser.status_code == 200
    assert browser["Content-Type"].startswith("application/json")
    assert browser.json()["openapi"].startswith("3.")
    as_json = anonymous.get("/api/schema/?format=json")
    assert as_json["Content-Type"].startswith("application/json")
    as_yaml = anonymous.get("/api/schema/?format=yaml")
    assert as_yaml["Content-Type"].startswith("text/plain")
    assert as_yaml.content.startswith(b"openapi: 3.")


def test_api_index_links_everything_without_a_token(anonymous):
    response = anonymous.get("/api/v1/")
    assert response.status_code == 200
    index = response.json()
    assert index["version"] and index["name"] == "Weft API"
    assert index["links"]["definitions"] == "http://testserver/api/v1/definitions/"
    assert index["links"]["instances"] == "http://testserver/api/v1/instances/"
    assert index["templates"]["instance"] == "http://testserver/api/v1/instances/{id}/"
    assert index["documentation"]["swagger_ui"] == "http://testserver/api/docs/"
    for link in index["links"].values():
        # Every link answers (401 for the ones that need a token, 405 for POST-only ones).
        assert anonymous.get(link).status_code in (200, 401, 405), link


def test_root_redirects_to_the_studio_or_the_docs(anonymous, settings):
    from django.apps import apps

    response = anonymous.get("/")
    assert response.status_code == 302
    expected = "/studio/" if apps.is_installed("studio") else "/api/docs/"
    assert response["Location"] == expected
