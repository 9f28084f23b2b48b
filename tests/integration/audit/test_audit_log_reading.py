"""`GET /api/v1/audit/`: admins only, one tenant's entries, filters, keyset pages; the
commands are recorded too; old entries are purged by the beat task."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from tests.conftest import client_for
from tests.factories import MembershipFactory, definition_body
from workflows.models import AuditEntry
from workflows.services.audit import AuditActor
from workflows.tasks import purge_audit_entries

pytestmark = pytest.mark.django_db

AUDIT = "/api/v1/audit/"


@pytest.fixture
def admin(tenant):
    return client_for(MembershipFactory(tenant=tenant, role="admin",
                                        user__username="alice").user)


@pytest.mark.parametrize("role", ["viewer", "operator", "editor"])
def test_only_admins_read_the_log(member_client, role):
    response = member_client(role).get(AUDIT)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "role_required"


def test_anonymous_is_refused(anonymous):
    assert anonymous.get(AUDIT).status_code == 401


def test_another_tenants_entries_are_invisible(admin, other_editor):
    admin.post("/api/v1/definitions/", definition_body("mine"), format="json")
    other_editor.post("/api/v1/definitions/", definition_body("theirs"), format="json")
    assert AuditEntry.objects.count() == 2
    results = admin.get(AUDIT).json()["results"]
    assert [(e["action"], e["target_id"], e["actor"]) for e in results] == [
        ("definition.create", "mine", "alice")]
    assert admin.get(AUDIT, {"target_id": "theirs"}).json()["results"] == []


def test_filters_by_action_actor_target_and_time(admin, member_client):
    editor = member_client("editor")
    admin.post("/api/v1/definitions/", definition_body("a"), format="json")
    admin.post("/api/v1/definitions/a/publish/")
    editor.post("/api/v1/definitions/", definition_body("b"), format="json")
    AuditEntry.objects.filter(target_id="a", action="definition.create").update(
        at=timezone.now() - timedelta(days=3))

    def ids(**params):
        return [(e["action"], e["target_id"]) for e in admin.get(AUDIT, params).json()["results"]]

    assert ids(action="definition.publish") == [("definition.publish", "a")]
    assert ids(action="definition.") == [("definition.create", "b"), ("definition.publish", "a"),
                                         ("definition.create", "a")]
    assert ids(actor="alice") == [("definition.publish", "a"), ("definition.create", "a")]
    assert ids(target_type="definition", target_id="b") == [("definition.create", "b")]
    since = (timezone.now() - timedelta(days=1)).isoformat()
    assert ids(since=since, actor="alice") == [("definition.publish", "a")]
    assert ids(until=since) == [("definition.create", "a")]
    bad = admin.get(AUDIT, {"since": "yesterday"})
    assert bad.status_code == 400 and bad.json()["error"]["details"]["errors"][0]["path"] == "since"


def test_pages_by_cursor_without_gaps_or_repeats_while_entries_arrive(admin):
    for n in range(5):
        admin.post("/api/v1/definitions/", definition_body(f"d{n}"), format="json")
    first = admin.get(AUDIT, {"limit": 2}).json()
    assert [e["target_id"] for e in first["results"]] == ["d4", "d3"]
    admin.post("/api/v1/definitions/", definition_body("late"), format="json")
    second = admin.get(first["next"]).json()
    third = admin.get(second["next"]).json()
    assert [e["target_id"] for e in second["results"] + third["results"]] == ["d2", "d1", "d0"]
    assert third["next"] is None


def test_the_list_costs_the_same_queries_for_any_page_size(admin, django_assert_max_num_queries):
    for n in range(30):
        admin.post("/api/v1/definitions/", definition_body(f"d{n}"), format="json")
    with django_assert_max_num_queries(6):
        assert len(admin.get(AUDIT, {"limit": 30}).json()["results"]) == 30


def test_commands_that_change_members_and_tokens_are_recorded(tenant):
    call_command("weft_user", "acme", "dave", "--role", "operator")
    call_command("weft_token", "acme", "ci")
    entries = list(AuditEntry.objects.order_by("id"))
    assert [(e.action, e.via, e.tenant_id) for e in entries] == [
        ("membership.ensure", "cli", tenant.id), ("api_token.create", "cli", tenant.id)]
    assert entries[0].actor.startswith("cli:") and entries[0].summary == "dave is operator"
    assert entries[1].target_id == "ci"


def test_beat_purges_entries_older_than_the_retention(tenant, settings):
    from workflows.services.audit import audit_record

    actor = AuditActor(label="x", via="api")
    old = audit_record(actor=actor, action="a.old", tenant=tenant, target_type="t")
    recent = audit_record(actor=actor, action="a.recent", tenant=tenant, target_type="t")
    AuditEntry.objects.filter(pk=old.pk).update(at=timezone.now() - timedelta(days=31))
    settings.WEFT_AUDIT_RETENTION_DAYS = 0
    assert purge_audit_entries() == 0  # 0 keeps everything
    settings.WEFT_AUDIT_RETENTION_DAYS = 30
    assert purge_audit_entries() == 1
    assert list(AuditEntry.objects.values_list("pk", flat=True)) == [recent.pk]
    assert "weft-purge-audit-entries" in settings.CELERY_BEAT_SCHEDULE
