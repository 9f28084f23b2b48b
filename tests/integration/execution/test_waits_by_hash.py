"""Waits are found by the stimulus's hash on (tenant, hash): every wait that shares the hash is
taken (many instances waiting for one event and correlation id), and only those (a wait of
another kind whose name and correlation id hash the same is left alone)."""

import json
import uuid

import pytest
from django.test import Client

from tests.integration.execution.conftest import drain_steps, sequence
from workflows.models import Bookmark, WorkflowInstance
from workflows.services.instances import instance_dispatch
from workflows.services.records import bookmark_hash

pytestmark = pytest.mark.django_db

EVENT_WAIT = sequence("event-wait", [{"id": "wait", "type": "Event", "event": "paid"}])
# An HTTP wait on the route "paid": its bookmark's name and correlation id are an event's.
HTTP_WAIT = sequence("http-wait", [{"id": "ask", "type": "HttpEndpoint", "path": "/paid"}])


def _waiting(tenant, definition_id: str, correlation_id: str | None) -> str:
    return str(instance_dispatch(tenant=tenant, definition_id=definition_id,
                                 correlation_id=correlation_id).id)


def test_an_event_takes_every_wait_of_its_hash_and_none_of_another_kind(
        tenant, publish, member_client):
    publish(EVENT_WAIT)
    publish(HTTP_WAIT)
    first, second = _waiting(tenant, "event-wait", "a"), _waiting(tenant, "event-wait", "a")
    anyone = _waiting(tenant, "event-wait", None)
    other = _waiting(tenant, "event-wait", "b")
    http = _waiting(tenant, "http-wait", "a")
    drain_steps()
    assert Bookmark.objects.count() == 5
    hashes = dict(Bookmark.objects.values_list("instance_id", "hash"))
    assert {hashes[i] for i in map(uuid.UUID, (first, second, http))} == {
        bookmark_hash("paid", "a")}

    operator = member_client("operator")
    resumed = operator.post("/api/v1/events/paid/", {"correlation_id": "a"},
                            format="json").json()["resumed"]
    assert sorted(resumed) == sorted([first, second, anyone])
    assert operator.post("/api/v1/events/paid/", {"correlation_id": "a"},
                         format="json").json()["resumed"] == []
    drain_steps()
    statuses = dict(WorkflowInstance.objects.values_list("id", "status"))
    assert [statuses[uuid.UUID(i)] for i in (first, second, anyone)] == \
        ["finished"] * 3
    assert statuses[uuid.UUID(other)] == "suspended"
    assert statuses[uuid.UUID(http)] == "suspended"  # not an event's wait
    # The HTTP wait is still there for its request.
    response = Client().post("/hooks/acme/paid?correlation_id=a", data=json.dumps({}),
                             content_type="application/json")
    assert response.status_code in (200, 202)
    assert not Bookmark.objects.filter(activity_type="HttpEndpoint").exists()


def test_an_http_wait_without_a_correlation_id_takes_any_request_on_its_route(
        tenant, publish):
    publish(sequence("approval", [
        {"id": "ask", "type": "HttpEndpoint", "path": "/approvals/{correlation_id}"}]))
    publish(sequence("other-route", [
        {"id": "ask", "type": "HttpEndpoint", "path": "/approvals/{id}/late"}]))
    keyed = _waiting(tenant, "approval", "K-1")
    unkeyed = _waiting(tenant, "approval", None)
    late = _waiting(tenant, "other-route", "K-1")
    drain_steps()
    post = Client().post
    assert post("/hooks/acme/approvals/K-9", data="{}", content_type="application/json") \
        .status_code in (200, 202)
    assert post("/hooks/acme/approvals/K-1", data="{}", content_type="application/json") \
        .status_code in (200, 202)
    assert post("/hooks/acme/approvals/K-1", data="{}", content_type="application/json") \
        .status_code == 404
    waiting = set(Bookmark.objects.values_list("instance_id", flat=True))
    assert {str(i) for i in waiting} == {late}
    assert {keyed, unkeyed} <= {str(i) for i in WorkflowInstance.objects.filter(
        status="finished").values_list("id", flat=True)}
