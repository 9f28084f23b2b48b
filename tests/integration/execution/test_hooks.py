import json

import pytest
from django.core.management import call_command
from django.test import Client

from tests.integration.execution.conftest import drain_steps, sequence
from workflows.models import Bookmark, WorkflowInstance
from workflows.services.instances import instance_dispatch

pytestmark = pytest.mark.django_db


def order_endpoint(authorize: bool = False) -> dict:
    return sequence("order-hook", [
        {"id": "in", "type": "HttpEndpoint", "path": "/orders/{id}", "methods": ["POST", "PUT"],
         "authorize": authorize, "trigger": True},
        {"id": "answer", "type": "WriteHttpResponse", "status": 201,
         "headers": {"X-Order": {"expr": "result.route.id"}},
         "body": {"expr": "{'order': result.route.id, 'qty': result.body.qty, "
                          "'method': result.method}"}},
    ])


def post(client, url, body, **extra):
    return client.post(url, data=json.dumps(body), content_type="application/json", **extra)


def test_http_trigger_answers_with_what_write_http_response_built(tenant, publish):
    publish(order_endpoint())
    response = post(Client(), "/hooks/acme/orders/42", {"qty": 3})
    assert response.status_code == 201
    assert response.json() == {"order": "42", "qty": 3, "method": "POST"}
    assert response["X-Order"] == "42"
    instance = WorkflowInstance.objects.get(definition_id="order-hook")
    assert instance.status == "finished" and instance.correlation_id == "42"


def test_unknown_route_wrong_method_and_bad_json(tenant, publish):
    publish(order_endpoint())
    client = Client()
    assert client.get("/hooks/acme/orders/42").status_code == 405
    assert post(client, "/hooks/acme/nothing/here", {}).status_code == 404
    assert post(client, "/hooks/no-tenant/orders/1", {}).status_code == 404
    bad = client.post("/hooks/acme/orders/1", data="{nope", content_type="application/json")
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == "malformed_request"
    assert not WorkflowInstance.objects.exists()


def test_oversized_hook_body_is_refused(tenant, publish, settings):
    publish(order_endpoint())
    settings.WEFT_MAX_REQUEST_BYTES = 1000
    response = post(Client(), "/hooks/acme/orders/1", {"qty": "x" * 5000})
    assert response.status_code == 413


def test_authorized_endpoint_needs_a_tenant_api_token(tenant, publish, capsys, other_tenant):
    publish(order_endpoint(authorize=True))
    client = Client()
    assert post(client, "/hooks/acme/orders/1", {"qty": 1}).status_code == 401
    call_command("weft_token", "acme", "shop")
    token = capsys.readouterr().out.strip()
    call_command("weft_token", "globex", "shop")
    foreign = capsys.readouterr().out.strip()
    assert post(client, "/hooks/acme/orders/1", {"qty": 1},
                HTTP_AUTHORIZATION=f"Bearer {foreign}").status_code == 401
    ok = post(client, "/hooks/acme/orders/1", {"qty": 1}, HTTP_AUTHORIZATION=f"Bearer {token}")
    assert ok.status_code == 201


def test_no_answer_in_time_gives_202_with_the_instance(tenant, publish, settings):
    settings.WEFT_HOOK_WAIT_SECONDS = 0.3
    publish(sequence("slow-hook", [
        {"id": "in", "type": "HttpEndpoint", "path": "/slow", "trigger": True},
        {"id": "wait", "type": "Event", "event": "never"},
    ]))
    response = post(Client(), "/hooks/acme/slow", {})
    assert response.status_code == 202
    assert WorkflowInstance.objects.get(pk=response.json()["id"]).status == "suspended"


def test_http_wait_in_the_middle_is_resumed_by_a_request_with_its_correlation(tenant, publish):
    publish(sequence("approval", [
        {"id": "ask", "type": "HttpEndpoint", "path": "/approvals/{correlation_id}",
         "methods": ["POST"]},
        {"id": "reply", "type": "WriteHttpResponse", "status": 200,
         "body": {"expr": "{'approved': result.body.ok}"}},
        {"id": "out", "type": "SetOutput", "output": "ok",
         "value": {"expr": "outputs.ask.body.ok"}},
    ], outputs=[{"name": "ok", "type": "boolean"}]))
    waiting = instance_dispatch(tenant=tenant, definition_id="approval", correlation_id="A-1")
    other = instance_dispatch(tenant=tenant, definition_id="approval", correlation_id="B-2")
    drain_steps()
    assert Bookmark.objects.filter(data__kind="http").count() == 2
    response = post(Client(), "/hooks/acme/approvals/A-1", {"ok": True})
    assert response.status_code == 200 and response.json() == {"approved": True}
    waiting.refresh_from_db()
    other.refresh_from_db()
    assert (waiting.status, waiting.output) == ("finished", {"ok": True})
    assert other.status == "suspended"
    assert post(Client(), "/hooks/acme/approvals/A-1", {"ok": True}).status_code == 404


def test_hooks_are_throttled_per_client_address_and_tenant(tenant, other_tenant, publish,
                                                           settings):
    publish(order_endpoint())
    settings.WEFT_THROTTLE_HOOKS = "2/min"
    client = Client()
    codes = [post(client, "/hooks/acme/orders/1", {"qty": 1}).status_code for _ in range(3)]
    assert codes == [201, 201, 429]
    refused = post(client, "/hooks/acme/orders/1", {"qty": 1})
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) > 0
    assert refused.json()["error"]["code"] == "throttled"
    assert WorkflowInstance.objects.filter(definition_id="order-hook").count() == 2
    # Another caller, and the same caller on another tenant, have their own allowance.
    other_caller = post(client, "/hooks/acme/orders/2", {"qty": 1}, REMOTE_ADDR="10.1.2.3")
    assert other_caller.status_code == 201
    assert post(client, f"/hooks/{other_tenant.slug}/orders/2", {}).status_code == 404


def test_nul_characters_in_a_hook_body_are_refused(tenant, publish):
    """PostgreSQL cannot store U+0000 in text or jsonb (found by test_bad_input_fuzz)."""
    publish(order_endpoint())
    response = Client().post("/hooks/acme/orders/1", data='{"qty": "\\u0000"}',
                             content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed_request"
    text = Client().post("/hooks/acme/orders/1", data=b"a\x00b", content_type="text/plain")
    assert text.status_code == 400
    assert not WorkflowInstance.objects.exists()
