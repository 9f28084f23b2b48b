"""Input Python cannot walk or PostgreSQL cannot store is a 400 that says why, never a 500."""

import json

import pytest
from django.test import Client

from tests.factories import definition_body
from tests.integration.execution.conftest import sequence

pytestmark = pytest.mark.django_db

DEEP = 5000


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def post_raw(client, url: str, raw: str):
    return client.post(url, data=raw, content_type="application/json")


def assert_clear_400(response, words: str):
    assert response.status_code == 400, response.content[:300]
    error = response.json()["error"]
    assert words in error["message"], error


@pytest.mark.parametrize("url", ["/api/v1/definitions/", "/api/v1/definitions/validate/"])
@pytest.mark.parametrize("depth", [DEEP, 600])  # past the parser, and parsed but too deep
def test_deeply_nested_json_is_a_400(editor, url, depth):
    raw = '{"name": "x", "root": ' + nested(depth) + "}"
    assert_clear_400(post_raw(editor, url, raw), "nested deeper than")


def test_deeply_nested_definition_values_are_a_400_on_validate_and_create(editor):
    body = definition_body("deep")
    body["inputs"] = [{"name": "a", "type": "any", "default": json.loads(nested(600))}]
    for url in ("/api/v1/definitions/validate/", "/api/v1/definitions/"):
        assert_clear_400(post_raw(editor, url, json.dumps(body)), "nested deeper than")


def test_reasonably_nested_values_are_accepted(editor):
    body = definition_body("nested-ok")
    body["inputs"] = [{"name": "a", "type": "any", "default": json.loads(nested(100))}]
    assert editor.post("/api/v1/definitions/", body, format="json").status_code == 201


def test_deeply_nested_event_payload_and_hook_body_are_a_400(tenant, member_client, publish):
    operator = member_client("operator")
    raw = '{"payload": ' + nested(DEEP) + "}"
    assert_clear_400(post_raw(operator, "/api/v1/events/go/", raw), "nested deeper than")
    publish(sequence("ping", [
        {"id": "in", "type": "HttpEndpoint", "path": "/ping", "trigger": True}]))
    for depth in (DEEP, 600):
        assert_clear_400(post_raw(Client(), "/hooks/acme/ping", nested(depth)),
                         "nested deeper than")


@pytest.mark.parametrize("raw", ['"x\\ud800"', '"\\udfffy"'])
def test_lone_surrogates_are_a_400(editor, tenant, publish, raw):
    body = json.dumps(definition_body("surrogate")).replace('"says hello"', raw)
    assert raw in body
    assert_clear_400(post_raw(editor, "/api/v1/definitions/", body), "surrogate")
    keyed = '{"name": "x", "root": {"type": "Sequence", "id": "m", "activities": []}, ' \
            '"description": {' + raw + ': 1}}'
    assert_clear_400(post_raw(editor, "/api/v1/definitions/", keyed), "surrogate")
    publish(sequence("ping", [
        {"id": "in", "type": "HttpEndpoint", "path": "/ping", "trigger": True}]))
    assert_clear_400(post_raw(Client(), "/hooks/acme/ping", '{"a": ' + raw + "}"), "surrogate")


def test_nan_is_still_refused(editor):
    assert post_raw(editor, "/api/v1/definitions/validate/", '{"name": NaN}').status_code == 400


def test_route_with_a_repeated_parameter_name_is_refused_and_harms_no_other_hook(
        editor, tenant, publish):
    bad = sequence("dup", [
        {"id": "in", "type": "HttpEndpoint", "path": "/a/{id}/{id}", "trigger": True}])
    response = editor.post("/api/v1/definitions/", bad, format="json")
    assert response.status_code == 400
    (problem,) = response.json()["error"]["details"]["errors"]
    assert problem["path"] == "root.activities[0].path"
    assert "repeated: id" in problem["message"]
    validated = editor.post("/api/v1/definitions/validate/", bad, format="json").json()
    assert validated["valid"] is False
    publish(sequence("ping", [
        {"id": "in", "type": "HttpEndpoint", "path": "/ping", "trigger": True},
        {"id": "out", "type": "WriteHttpResponse", "status": 200, "body": "pong"}]))
    assert post_raw(Client(), "/hooks/acme/ping", "{}").status_code == 200


def test_a_stored_route_with_a_repeated_name_does_not_break_the_tenants_hooks(tenant, publish):
    """Triggers saved before validation refused such routes keep the other hooks working."""
    from workflows.models import TriggerType, WorkflowTrigger

    publish(sequence("ping", [
        {"id": "in", "type": "HttpEndpoint", "path": "/ping", "trigger": True},
        {"id": "out", "type": "WriteHttpResponse", "status": 200, "body": "pong"}]))
    trigger = WorkflowTrigger.objects.get(tenant=tenant, type=TriggerType.HTTP)
    WorkflowTrigger.objects.filter(pk=trigger.pk).update(key="b/{x}/{x}")
    publish(sequence("pong", [
        {"id": "in", "type": "HttpEndpoint", "path": "/pong", "trigger": True},
        {"id": "out", "type": "WriteHttpResponse", "status": 200, "body": "ping"}]))
    assert post_raw(Client(), "/hooks/acme/pong", "{}").status_code == 200
    assert post_raw(Client(), "/hooks/acme/b/1/2", "{}").status_code in (200, 202)
