"""Every change made through the REST API leaves exactly one audit entry naming who made it,
from where, in which request, in the tenant it belongs to."""

import pytest

from api.throttling import client_address
from tests.conftest import client_for
from tests.factories import MembershipFactory, definition_body
from tests.integration.execution.conftest import sequence
from workflows.models import AuditEntry, Bookmark, WorkflowInstance

pytestmark = pytest.mark.django_db

DEFS = "/api/v1/definitions/"


@pytest.fixture
def bob(tenant):
    membership = MembershipFactory(tenant=tenant, role="admin", user__username="bob")
    return client_for(membership.user)


def _event_wait(definition_id="waits"):
    return sequence(definition_id, [{"id": "approve", "type": "Event", "event": "approved"},
                                    {"id": "done", "type": "WriteLine", "text": "ok"}])


def _one_new_entry(before: int, response, action: str) -> AuditEntry:
    assert response.status_code < 300, response.content
    entries = list(AuditEntry.objects.filter(id__gt=before))
    assert [e.action for e in entries] == [action]
    entry = entries[0]
    assert entry.actor == "bob" and entry.actor_user.username == "bob"
    assert entry.via == "api" and entry.tenant.slug == "acme"
    assert entry.request_id == response["X-Request-ID"]
    assert entry.client_address == "127.0.0.1"
    return entry


def _last_id() -> int:
    return AuditEntry.objects.order_by("-id").values_list("id", flat=True).first() or 0


def test_definition_create_save_publish_retract_delete_each_leave_one_entry(bob):
    steps = [
        ("definition.create", lambda: bob.post(DEFS, definition_body("doc"), format="json")),
        ("definition.save", lambda: bob.put(f"{DEFS}doc/", definition_body("doc",
                                                                          description="v"),
                                            format="json")),
        ("definition.publish", lambda: bob.post(f"{DEFS}doc/publish/")),
        ("definition.retract", lambda: bob.post(f"{DEFS}doc/retract/")),
        ("definition.delete", lambda: bob.delete(f"{DEFS}doc/")),
    ]
    summaries = []
    for action, call in steps:
        before = _last_id()
        entry = _one_new_entry(before, call(), action)
        assert (entry.target_type, entry.target_id) == ("definition", "doc")
        summaries.append(entry.summary)
    assert summaries[:3] == ["created version 1", "saved version 1", "published version 1"]


def test_instance_suspend_resume_cancel_delete_and_bookmark_resume(bob, publish):
    publish(_event_wait())
    started = bob.post(f"{DEFS}waits/execute/", {}, format="json").json()
    assert AuditEntry.objects.count() == 0  # starting a workflow is not an audited change
    url = f"/api/v1/instances/{started['id']}/"
    for action in ("suspend", "resume"):
        entry = _one_new_entry(_last_id(), bob.post(f"{url}{action}/"), f"instance.{action}")
        assert (entry.target_type, entry.target_id) == ("instance", started["id"])
    bookmark = Bookmark.objects.get(instance_id=started["id"])
    entry = _one_new_entry(_last_id(), bob.post(f"/api/v1/bookmarks/{bookmark.id}/resume/",
                                                {"payload": {"ok": 1}}, format="json"),
                           "bookmark.resume")
    assert entry.target_id == str(bookmark.id)
    assert entry.details == {"instance_id": started["id"]}
    second = bob.post(f"{DEFS}waits/execute/", {}, format="json").json()
    second_url = f"/api/v1/instances/{second['id']}/"
    _one_new_entry(_last_id(), bob.post(f"{second_url}cancel/"), "instance.cancel")
    _one_new_entry(_last_id(), bob.delete(second_url), "instance.delete")
    assert not WorkflowInstance.objects.filter(id=second["id"]).exists()


def test_dead_letter_redrive(poisoned, bob):
    _instance, letter = poisoned
    entry = _one_new_entry(_last_id(), bob.post(f"/api/v1/dead-letters/{letter.id}/redrive/"),
                           "dead_letter.redrive")
    assert (entry.target_type, entry.target_id) == ("dead_letter", str(letter.id))
    assert "m-1" in entry.summary


def test_instance_retry(bob, publish):
    publish(sequence("refuser", [{"id": "no", "type": "test.refuse"}]))
    faulted = bob.post(f"{DEFS}refuser/execute/", {}, format="json").json()
    assert faulted["status"] == "faulted"
    _one_new_entry(_last_id(), bob.post(f"/api/v1/instances/{faulted['id']}/retry/"),
                   "instance.retry")


def test_event_publish_records_what_it_resumed(bob, publish):
    publish(_event_wait())
    started = bob.post(f"{DEFS}waits/execute/", {}, format="json").json()
    entry = _one_new_entry(_last_id(), bob.post("/api/v1/events/approved/", {"payload": 1},
                                                format="json"), "event.publish")
    assert (entry.target_type, entry.target_id) == ("event", "approved")
    assert entry.details["resumed"] == [started["id"]]
    assert entry.summary == "1 wait(s) resumed, 0 instance(s) started"


def test_a_refused_change_leaves_no_entry(bob, member_client, publish):
    publish(_event_wait())
    viewer = member_client("viewer")
    assert viewer.post(f"{DEFS}waits/retract/").status_code == 403
    assert bob.post(f"{DEFS}missing/publish/").status_code == 404
    assert bob.post(DEFS, {"name": ""}, format="json").status_code == 400
    assert AuditEntry.objects.count() == 0


def test_the_client_address_follows_the_throttles_rule(bob):
    response = bob.post(DEFS, definition_body("doc"), format="json",
                        HTTP_X_FORWARDED_FOR="203.0.113.9", HTTP_X_REQUEST_ID="req-42")
    entry = AuditEntry.objects.get()
    assert entry.request_id == "req-42" == response["X-Request-ID"]
    # Whatever the proxy setting says about X-Forwarded-For, the throttles' answer is recorded.
    assert entry.client_address == client_address(response.wsgi_request.META)
    assert entry.client_address in {"203.0.113.9", "127.0.0.1"}


def test_secret_changes_and_token_revocations_each_leave_one_entry_without_the_value(bob,
                                                                                   tenant):
    member = MembershipFactory(tenant=tenant, role="viewer", user__username="carol").user
    steps = [
        ("secret.create", ("secret", "API_KEY"),
         lambda: bob.post("/api/v1/secrets/", {"name": "API_KEY", "value": "sk-audit-1234"},
                          format="json")),
        ("secret.set", ("secret", "API_KEY"),
         lambda: bob.put("/api/v1/secrets/API_KEY/", {"value": "sk-audit-5678"},
                         format="json")),
        ("secret.delete", ("secret", "API_KEY"),
         lambda: bob.delete("/api/v1/secrets/API_KEY/")),
        ("member.tokens_revoke", ("user", "carol"),
         lambda: bob.post(f"/api/v1/members/{member.username}/revoke-tokens/")),
    ]
    for action, target, call in steps:
        entry = _one_new_entry(_last_id(), call(), action)
        assert (entry.target_type, entry.target_id) == target
    text = " ".join(f"{e.summary} {e.details}" for e in AuditEntry.objects.all())
    assert "sk-audit" not in text
    before = _last_id()
    assert bob.post("/api/v1/auth/tokens/revoke-all/").status_code == 200
    (own,) = AuditEntry.objects.filter(id__gt=before)
    assert (own.action, own.actor, own.target_id, own.tenant) == (
        "tokens.revoke_own", "bob", "bob", None)
