"""A hook answers from Weft's origin: the workflow chooses its body and some headers, never
cookies or security policy, and a browser never runs what it serves with Weft's privileges."""

import pytest
from django.test import Client

from tests.integration.execution.conftest import sequence

pytestmark = pytest.mark.django_db

SANDBOX = "sandbox; default-src 'none'; frame-ancestors 'none'"


def page_hook(headers: dict) -> dict:
    return sequence("page-hook", [
        {"id": "in", "type": "HttpEndpoint", "path": "/page", "methods": ["GET"],
         "trigger": True},
        {"id": "answer", "type": "WriteHttpResponse", "status": 200, "headers": headers,
         "body": "<script>fetch('/admin/')</script>"},
    ])


def test_workflow_cannot_set_cookies_or_security_headers(tenant, publish):
    publish(page_hook({
        "Content-Type": "text/html",
        "Set-Cookie": "sessionid=attacker; Path=/",
        "Content-Security-Policy": "default-src *",
        "content-security-policy-report-only": "default-src *",
        "Strict-Transport-Security": "max-age=0",
        "X-Frame-Options": "ALLOWALL",
        "X-Content-Type-Options": "sniff",
        "Access-Control-Allow-Origin": "*",
        "Access-Control-Allow-Credentials": "true",
        "Refresh": "0; url=https://evil.example/",
        "Cache-Control": "no-store",
        "X-Order": "42",
        "X-Bad": "a\r\nSet-Cookie: x=1",
    }))
    response = Client().get("/hooks/acme/page")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/html"  # allowed, but sandboxed below
    assert response["Content-Security-Policy"] == SANDBOX
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"
    assert "Content-Security-Policy-Report-Only" not in response
    assert "Strict-Transport-Security" not in response
    assert "Access-Control-Allow-Origin" not in response
    assert "Access-Control-Allow-Credentials" not in response
    assert "Refresh" not in response
    assert "X-Bad" not in response
    assert not response.cookies
    assert response["Cache-Control"] == "no-store" and response["X-Order"] == "42"


def test_error_answers_of_hooks_are_sandboxed_too(tenant):
    response = Client().get("/hooks/acme/nothing")
    assert response.status_code == 404
    assert response["Content-Security-Policy"] == SANDBOX
    assert response["X-Content-Type-Options"] == "nosniff"


def test_separate_hooks_host_serves_hooks_and_nothing_else(tenant, publish, settings):
    settings.WEFT_HOOKS_HOST = "hooks.example.test"
    settings.ALLOWED_HOSTS = ["weft.example.test", "hooks.example.test"]
    publish(page_hook({}))
    client = Client()
    on_hooks_host = client.get("/hooks/acme/page", HTTP_HOST="hooks.example.test")
    assert on_hooks_host.status_code == 200
    assert client.get("/hooks/acme/page", HTTP_HOST="weft.example.test").status_code == 404
    for path in ("/admin/login/", "/api/v1/definitions/", "/api/schema/", "/metrics"):
        assert client.get(path, HTTP_HOST="hooks.example.test").status_code == 404, path
    assert client.get("/admin/login/", HTTP_HOST="weft.example.test").status_code == 200
    for host in ("weft.example.test", "hooks.example.test"):  # load balancers' probes
        assert client.get("/healthz", HTTP_HOST=host).status_code == 200


def test_without_a_hooks_host_hooks_answer_on_the_main_host(tenant, publish):
    publish(page_hook({}))
    assert Client().get("/hooks/acme/page").status_code == 200


def test_unknown_host_is_a_400_with_a_hooks_host_set(tenant, settings):
    settings.WEFT_HOOKS_HOST = "hooks.example.test"
    settings.ALLOWED_HOSTS = ["weft.example.test", "hooks.example.test"]
    assert Client().get("/hooks/acme/page", HTTP_HOST="evil.example.test").status_code == 400
