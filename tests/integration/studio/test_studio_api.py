"""What the Studio added to the API, usable by any client: who am I, counts by status, the
version filter, `held`, and the If-Match precondition on saving a definition."""

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from tests.conftest import client_for
from tests.factories import MembershipFactory, TenantFactory, UserFactory, definition_body
from workflows.models import InstanceStatus, WorkflowInstance
from workflows.services.definitions import definition_create, definition_publish

pytestmark = pytest.mark.django_db


def test_me_lists_every_tenant_with_the_role_there_and_needs_no_tenant_header(tenant):
    user = UserFactory(username="ann")
    MembershipFactory(tenant=tenant, user=user, role="operator")
    MembershipFactory(tenant=TenantFactory(slug="beta", name="Beta"), user=user, role="viewer")
    client = client_for(user)  # issuing its token writes the blacklist's outstanding row
    with CaptureQueriesContext(connection) as captured:
        response = client.get("/api/v1/me/")
    assert response.status_code == 200
    assert response.json() == {"username": "ann", "is_staff": False, "tenants": [
        {"tenant": "acme", "tenant_name": tenant.name, "role": "operator"},
        {"tenant": "beta", "tenant_name": "Beta", "role": "viewer"}]}
    assert len(captured) <= 2  # the user, then memberships with their tenants in one query


def test_me_needs_a_signed_in_user(anonymous):
    response = anonymous.get("/api/v1/me/")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def make_instances(tenant, user, statuses: dict) -> None:
    definition_create(tenant=tenant, user=user, body=definition_body())
    published = definition_publish(tenant=tenant, user=user, definition_id="hello")
    for status, count in statuses.items():
        for _ in range(count):
            WorkflowInstance.objects.create(tenant=tenant, definition_version=published,
                                            definition_id="hello", version=1, status=status)


def test_counts_by_status_cover_every_status_and_follow_the_filters(tenant, other_tenant):
    user = UserFactory()
    MembershipFactory(tenant=tenant, user=user, role="viewer")
    make_instances(tenant, user, {"running": 2, "finished": 3})
    make_instances(other_tenant, UserFactory(), {"running": 5})  # never counted for acme
    client = client_for(user)

    response = client.get("/api/v1/instances/counts/")
    assert response.status_code == 200
    body = response.json()
    assert body["counts"] == {**dict.fromkeys(InstanceStatus.values, 0), "running": 2,
                              "finished": 3}
    assert body["total"] == 5
    assert client.get("/api/v1/instances/counts/",
                      {"definition_id": "other"}).json()["total"] == 0
    assert client.get("/api/v1/instances/counts/", {"version": 2}).json()["total"] == 0
    assert len(client.get("/api/v1/instances/", {"version": 1}).json()["results"]) == 5
    bad = client.get("/api/v1/instances/counts/", {"version": "two"})
    assert bad.status_code == 400
    assert bad.json()["error"]["details"]["errors"][0]["path"] == "version"


def test_counts_take_one_query_whatever_the_number_of_instances(tenant):
    user = UserFactory()
    MembershipFactory(tenant=tenant, user=user, role="viewer")
    client = client_for(user)
    make_instances(tenant, user, {"running": 1})

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get("/api/v1/instances/counts/").status_code == 200
        return len(captured)

    few = queries()
    WorkflowInstance.objects.bulk_create([
        WorkflowInstance(tenant=tenant, definition_version=WorkflowInstance.objects.first()
                         .definition_version, definition_id="hello", version=1, status=status)
        for status in ["faulted", "cancelled", "pending"] * 20])
    assert queries() == few


def test_instances_say_whether_an_operator_holds_them(tenant):
    user = UserFactory()
    MembershipFactory(tenant=tenant, user=user, role="operator")
    make_instances(tenant, user, {"running": 1})
    instance = WorkflowInstance.objects.get()
    client = client_for(user)
    assert client.get(f"/api/v1/instances/{instance.id}/").json()["held"] is False
    held = client.post(f"/api/v1/instances/{instance.id}/suspend/").json()
    assert held["held"] is True and held["status"] == "suspended"
    assert client.post(f"/api/v1/instances/{instance.id}/resume/").json()["held"] is False


def test_save_with_a_stale_if_match_is_a_conflict_and_changes_nothing(editor):
    editor.post("/api/v1/definitions/", definition_body(), format="json")
    read = editor.get("/api/v1/definitions/hello/")
    etag = read["ETag"]
    assert etag.startswith('"1-')

    first = editor.put("/api/v1/definitions/hello/", definition_body(description="first"),
                       format="json", HTTP_IF_MATCH=etag)
    assert first.status_code == 200
    assert first["ETag"] != etag

    stale = editor.put("/api/v1/definitions/hello/", definition_body(description="second"),
                       format="json", HTTP_IF_MATCH=etag)
    assert stale.status_code == 409
    error = stale.json()["error"]
    assert error["code"] == "revision_conflict"
    assert error["details"]["current_revision"] == first["ETag"].strip('"')
    assert error["details"]["current_version"] == 1
    assert editor.get("/api/v1/definitions/hello/").json()["description"] == "first"

    fresh = editor.put("/api/v1/definitions/hello/", definition_body(description="third"),
                       format="json", HTTP_IF_MATCH=first["ETag"])
    assert fresh.status_code == 200
    # Without If-Match (or with *) a save applies as before: old clients keep working.
    assert editor.put("/api/v1/definitions/hello/", definition_body(description="fourth"),
                      format="json").status_code == 200
    assert editor.put("/api/v1/definitions/hello/", definition_body(description="fifth"),
                      format="json", HTTP_IF_MATCH="*").status_code == 200


def test_a_save_based_on_a_read_from_before_a_publish_is_a_conflict(editor):
    editor.post("/api/v1/definitions/", definition_body(), format="json")
    etag = editor.get("/api/v1/definitions/hello/")["ETag"]
    editor.post("/api/v1/definitions/hello/publish/")
    stale = editor.put("/api/v1/definitions/hello/", definition_body(description="v2"),
                       format="json", HTTP_IF_MATCH=etag)
    assert stale.status_code == 409
    latest = editor.get("/api/v1/definitions/hello/")
    saved = editor.put("/api/v1/definitions/hello/", definition_body(description="v2"),
                       format="json", HTTP_IF_MATCH=latest["ETag"])
    assert saved.status_code == 200 and saved.json()["version"] == 2
    assert saved["ETag"].startswith('"2-')


def test_studio_session_writes_need_the_csrf_token(tenant):
    user = UserFactory(username="sam")
    MembershipFactory(tenant=tenant, user=user, role="editor")
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(user)
    page = browser.get("/studio/")
    assert page.status_code == 200
    token = browser.cookies["csrftoken"].value
    refused = browser.post("/api/v1/definitions/", definition_body(),
                           content_type="application/json")
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["error"]["message"]
    created = browser.post("/api/v1/definitions/", definition_body(),
                           content_type="application/json", HTTP_X_CSRFTOKEN=token)
    assert created.status_code == 201


def test_studio_pages_need_sign_in_and_carry_the_content_security_policy(tenant):
    browser = Client()
    assert browser.get("/studio/instances").url.startswith("/accounts/login/?next=")
    login = browser.get("/accounts/login/")
    assert "script-src 'self'" in login["Content-Security-Policy"]
    user = UserFactory()
    MembershipFactory(tenant=tenant, user=user, role="viewer")
    browser.force_login(user)
    for path in ("/studio/", "/studio/instances", "/studio/definitions/hello",
                 "/studio/operations"):
        page = browser.get(path)
        assert page.status_code == 200, path
        policy = page["Content-Security-Policy"]
        assert "script-src 'self';" in policy and "unsafe-eval" not in policy
        assert b"<script type=\"module\" src=\"/static/studio/app-" in page.content
    assert browser.get("/studio/nowhere").status_code == 404


def test_instances_filter_by_parent_for_the_child_a_wait_names(tenant):
    user = UserFactory()
    MembershipFactory(tenant=tenant, user=user, role="viewer")
    make_instances(tenant, user, {"running": 3})
    parent, child, stranger = WorkflowInstance.objects.order_by("created_at")
    child.parent = parent
    child.save(update_fields=["parent"])
    client = client_for(user)
    found = client.get("/api/v1/instances/", {"parent_id": str(parent.id)}).json()["results"]
    assert [row["id"] for row in found] == [str(child.id)]
    assert found[0]["parent_id"] == str(parent.id)
    bad = client.get("/api/v1/instances/", {"parent_id": "nope"})
    assert bad.status_code == 400
    assert bad.json()["error"]["details"]["errors"] == [
        {"path": "parent_id", "message": "Expected a UUID."}]
    assert stranger.parent_id is None
