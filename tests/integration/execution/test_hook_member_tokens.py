"""Issue 8 hole 15: an `HttpEndpoint` with `authorize: true` accepts a member's access token
(operator or above in that tenant) as well as the tenant's API tokens."""

import json

import pytest
from django.test import Client

from tests.factories import MembershipFactory
from tests.integration.execution.conftest import drain_steps, sequence
from workflows.services.instances import instance_dispatch

pytestmark = pytest.mark.django_db

ENDPOINT = sequence("guarded", [
    {"id": "in", "type": "HttpEndpoint", "path": "/guarded/{id}", "authorize": True,
     "trigger": True},
    {"id": "answer", "type": "WriteHttpResponse", "status": 201,
     "body": {"expr": "{'id': result.route.id}"}},
])
WAITING = sequence("guarded-wait", [
    {"id": "ask", "type": "HttpEndpoint", "path": "/approve/{correlation_id}", "authorize": True},
    {"id": "answer", "type": "WriteHttpResponse", "status": 200, "body": "approved"},
])


def _access_token(tenant, role: str) -> str:
    user = MembershipFactory(tenant=tenant, role=role).user
    response = Client().post("/api/v1/auth/token/",
                             data=json.dumps({"username": user.username, "password": "pw-123456"}),
                             content_type="application/json")
    assert response.status_code == 200, response.content
    return response.json()["access"]


def _call(path: str, token: str | None):
    extra = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    return Client().post(path, data="{}", content_type="application/json", **extra)


@pytest.mark.parametrize("role", ["operator", "editor", "admin"])
def test_a_members_access_token_operator_or_above_starts_an_authorized_endpoint(
        tenant, publish, role):
    publish(ENDPOINT)
    response = _call("/hooks/acme/guarded/7", _access_token(tenant, role))
    assert response.status_code == 201, response.content
    assert response.json() == {"id": "7"}


def test_a_viewers_access_token_is_refused_with_a_clear_error(tenant, publish):
    publish(ENDPOINT)
    response = _call("/hooks/acme/guarded/7", _access_token(tenant, "viewer"))
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    assert "operator" in response.json()["error"]["message"]


def test_an_access_token_of_another_tenants_member_is_refused(tenant, other_tenant, publish):
    publish(ENDPOINT)
    response = _call("/hooks/acme/guarded/7", _access_token(other_tenant, "admin"))
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"


def test_a_forged_or_missing_token_is_still_refused(tenant, publish):
    publish(ENDPOINT)
    assert _call("/hooks/acme/guarded/7", None).status_code == 401
    token = _access_token(tenant, "admin")
    assert _call("/hooks/acme/guarded/7", token[:-4] + "abcd").status_code == 401


def test_a_members_access_token_resumes_an_authorized_wait(tenant, publish):
    publish(WAITING)
    instance = instance_dispatch(tenant=tenant, definition_id="guarded-wait",
                                 correlation_id="c-9")
    drain_steps()
    assert _call("/hooks/acme/approve/c-9", _access_token(tenant, "viewer")).status_code == 403
    response = _call("/hooks/acme/approve/c-9", _access_token(tenant, "operator"))
    assert response.status_code == 200, response.content
    instance.refresh_from_db()
    assert instance.status == "finished"
