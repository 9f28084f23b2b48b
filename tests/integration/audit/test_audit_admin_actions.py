"""Changes made in the Django admin leave exactly one audit entry each, naming the staff user;
the audit log's own admin page is read-only."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from tests.factories import MembershipFactory, UserFactory
from tests.integration.execution.conftest import sequence
from workflows.models import AuditEntry, Membership, Tenant, WorkflowDefinition
from workflows.services.audit import AuditActor, audit_record
from workflows.services.inline import instance_execute

pytestmark = pytest.mark.django_db

INSTANCES = "/admin/workflows/workflowinstance/"


@pytest.fixture
def root(tenant):
    user = UserFactory(username="root", is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(user)
    return client


def _new_entries(before: int) -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(id__gt=before).order_by("id"))


def _last_id() -> int:
    return AuditEntry.objects.order_by("-id").values_list("id", flat=True).first() or 0


def _only(before: int, action: str) -> AuditEntry:
    entries = _new_entries(before)
    assert [e.action for e in entries] == [action]
    entry = entries[0]
    assert (entry.actor, entry.via, entry.actor_user.username) == ("root", "admin", "root")
    assert entry.client_address == "127.0.0.1" and entry.request_id
    return entry


def test_membership_role_change_and_tenant_add_through_admin_forms(root, tenant):
    membership = MembershipFactory(tenant=tenant, role="viewer")
    before = _last_id()
    response = root.post(f"/admin/workflows/membership/{membership.pk}/change/",
                         {"user": membership.user.pk, "tenant": tenant.pk, "role": "operator"})
    assert response.status_code == 302, response.content
    entry = _only(before, "membership.change")
    assert entry.tenant == tenant and entry.target_id == str(membership.pk)
    assert "role" in entry.summary.lower()
    before = _last_id()
    response = root.post("/admin/workflows/tenant/add/", {
        "slug": "initech", "name": "Initech", "memberships-TOTAL_FORMS": "0",
        "memberships-INITIAL_FORMS": "0"})
    assert response.status_code == 302, response.content
    entry = _only(before, "tenant.add")
    assert entry.tenant == Tenant.objects.get(slug="initech")
    before = _last_id()
    response = root.post(f"/admin/workflows/membership/{membership.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    _only(before, "membership.delete")
    assert not Membership.objects.filter(pk=membership.pk).exists()


def test_user_changes_in_the_auth_admin_are_recorded_platform_wide(root):
    someone = UserFactory(username="ann")
    before = _last_id()
    response = root.post("/admin/auth/user/", {"action": "delete_selected",
                                               "_selected_action": [someone.pk], "post": "yes"})
    assert response.status_code == 302
    entry = _only(before, "user.delete")
    assert entry.tenant is None and entry.target_id == str(someone.pk)
    assert not get_user_model().objects.filter(username="ann").exists()


def test_definition_publish_and_retract_admin_actions(root, tenant, publish):
    publish(sequence("doc", [{"id": "w", "type": "WriteLine", "text": "x"}]))
    definition = WorkflowDefinition.objects.get(definition_id="doc")
    url = "/admin/workflows/workflowdefinition/"
    before = _last_id()
    root.post(url, {"action": "retract_selected", "_selected_action": [definition.pk]})
    entry = _only(before, "definition.retract")
    assert (entry.tenant, entry.target_id) == (tenant, "doc")
    before = _last_id()
    root.post(url, {"action": "publish_selected", "_selected_action": [definition.pk]})
    _only(before, "definition.publish")


def test_console_actions_and_bulk_actions_on_instances(root, tenant, publish):
    publish(sequence("approval", [{"id": "approve", "type": "Event", "event": "approved"}]))
    instance = instance_execute(tenant=tenant, definition_id="approval", correlation_id="c-1")
    before = _last_id()
    root.post(f"{INSTANCES}{instance.id}/act/suspend/")
    assert _only(before, "instance.suspend").target_id == str(instance.id)
    before = _last_id()
    root.post(INSTANCES, {"action": "resumed_selected", "_selected_action": [instance.id]})
    _only(before, "instance.resume")
    before = _last_id()
    root.post(f"{INSTANCES}{instance.id}/act/publish-event/", {"name": "nothing-waits"})
    assert _only(before, "event.publish").target_id == "nothing-waits"
    bookmark = instance.bookmarks.get()
    before = _last_id()
    root.post(f"{INSTANCES}{instance.id}/act/resume-bookmark/",
              {"bookmark": str(bookmark.id), "payload": "1"})
    assert _only(before, "bookmark.resume").target_id == str(bookmark.id)
    other = instance_execute(tenant=tenant, definition_id="approval", correlation_id="c-2")
    before = _last_id()
    root.post(f"{INSTANCES}{other.id}/act/cancel/")
    _only(before, "instance.cancel")
    before = _last_id()
    root.post(f"{INSTANCES}{other.id}/act/delete/")
    _only(before, "instance.delete")


def test_dead_letter_redrive_admin_action(root, poisoned):
    _instance, letter = poisoned
    before = _last_id()
    root.post("/admin/workflows/deadletter/", {"action": "redrive_selected",
                                               "_selected_action": [letter.id]})
    assert _only(before, "dead_letter.redrive").target_id == str(letter.id)


def test_the_audit_log_admin_is_read_only(root, tenant):
    entry = audit_record(actor=AuditActor(label="x", via="api"), action="definition.publish",
                         tenant=tenant, target_type="definition", target_id="d")
    listing = root.get("/admin/workflows/auditentry/")
    assert listing.status_code == 200 and b"definition.publish" in listing.content
    assert b"/admin/workflows/auditentry/add/" not in listing.content
    assert root.get("/admin/workflows/auditentry/add/").status_code == 403
    page = root.get(f"/admin/workflows/auditentry/{entry.pk}/change/")
    assert page.status_code == 200 and b'name="_save"' not in page.content
    assert root.post(f"/admin/workflows/auditentry/{entry.pk}/delete/",
                     {"post": "yes"}).status_code == 403
    root.post("/admin/workflows/auditentry/", {"action": "delete_selected",
                                               "_selected_action": [entry.pk], "post": "yes"})
    assert AuditEntry.objects.filter(pk=entry.pk).exists()


def test_the_audit_admin_is_for_superusers_only(tenant, other_tenant):
    """The admin admits superusers only (README: Security): a tenant admin with the model's
    view permission gets the sign-in page, a superuser sees every tenant's entries."""
    from django.contrib.auth.models import Permission

    actor = AuditActor(label="x", via="api")
    audit_record(actor=actor, action="mine.x", tenant=tenant, target_type="t")
    audit_record(actor=actor, action="theirs.x", tenant=other_tenant, target_type="t")
    staff = UserFactory(is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_auditentry"))
    MembershipFactory(tenant=tenant, user=staff, role="admin")
    client = Client()
    client.force_login(staff)
    refused = client.get("/admin/workflows/auditentry/")
    assert refused.status_code == 302 and "/admin/login/" in refused["Location"]
    root = Client()
    root.force_login(UserFactory(is_staff=True, is_superuser=True))
    listing = root.get("/admin/workflows/auditentry/").content
    assert b"mine.x" in listing and b"theirs.x" in listing
