import pytest

from tests.conftest import client_for
from tests.factories import MembershipFactory, definition_body

pytestmark = pytest.mark.django_db

BASE = "/api/v1/definitions/"


@pytest.fixture
def foreign_definition(other_editor):
    """A published definition with two versions that belongs to the other tenant."""
    assert other_editor.post(BASE, definition_body("secret"), format="json").status_code == 201
    other_editor.post(f"{BASE}secret/publish/")
    other_editor.put(f"{BASE}secret/", definition_body("secret", description="v2"), format="json")
    return "secret"


def test_another_tenants_definition_is_404_on_every_endpoint(editor, foreign_definition):
    d = foreign_definition
    calls = [
        ("get", f"{BASE}{d}/"), ("put", f"{BASE}{d}/"), ("delete", f"{BASE}{d}/"),
        ("post", f"{BASE}{d}/publish/"), ("post", f"{BASE}{d}/retract/"),
        ("get", f"{BASE}{d}/versions/"), ("get", f"{BASE}{d}/versions/1/"),
    ]
    for method, url in calls:
        response = getattr(editor, method)(url, definition_body(d), format="json")
        assert response.status_code == 404, (method, url, response.content)


def test_another_tenants_definitions_never_appear_in_lists(editor, foreign_definition):
    editor.post(BASE, definition_body("mine"), format="json")
    listed = [d["definition_id"] for d in editor.get(BASE).json()["results"]]
    assert listed == ["mine"]
    assert editor.get(BASE, {"search": "secret"}).json()["results"] == []


def test_same_definition_id_may_exist_in_two_tenants(editor, foreign_definition, other_editor):
    assert editor.post(BASE, definition_body("secret"), format="json").status_code == 201
    mine = editor.get(f"{BASE}secret/").json()
    theirs = other_editor.get(f"{BASE}secret/").json()
    assert (mine["version"], theirs["version"]) == (1, 2)


def test_writes_to_another_tenant_leave_its_data_unchanged(editor, foreign_definition,
                                                            other_editor):
    editor.delete(f"{BASE}secret/")
    editor.post(f"{BASE}secret/retract/")
    assert other_editor.get(f"{BASE}secret/").json()["published_version"] == 1


@pytest.mark.parametrize(
    ("role", "can_read", "can_write"),
    [("viewer", True, False), ("operator", True, False), ("editor", True, True),
     ("admin", True, True)],
)
def test_role_matrix_for_definitions(member_client, editor, role, can_read, can_write):
    editor.post(BASE, definition_body("shared"), format="json")
    client = member_client(role)
    assert (client.get(BASE).status_code == 200) is can_read
    assert (client.get(f"{BASE}shared/").status_code == 200) is can_read
    writes = [
        client.post(BASE, definition_body(f"new-{role}"), format="json"),
        client.put(f"{BASE}shared/", definition_body("shared"), format="json"),
        client.post(f"{BASE}shared/publish/"),
    ]
    for response in writes:
        assert (response.status_code in (200, 201)) is can_write, response.content
        if not can_write:
            assert response.status_code == 403
            assert response.json()["error"]["code"] == "role_required"
    denied_delete = client.delete(f"{BASE}shared/")
    assert (denied_delete.status_code == 204) is can_write


def test_viewer_can_validate_without_writing(member_client):
    response = member_client("viewer").post(f"{BASE}validate/", definition_body(), format="json")
    assert response.status_code == 200


def test_user_in_two_tenants_picks_one_with_the_header(tenant, other_tenant):
    membership = MembershipFactory(tenant=tenant, role="editor")
    MembershipFactory(tenant=other_tenant, user=membership.user, role="viewer")
    without_header = client_for(membership.user)
    response = without_header.get(BASE)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "tenant_required"
    as_editor = client_for(membership.user, "acme")
    assert as_editor.post(BASE, definition_body("x"), format="json").status_code == 201
    as_viewer = client_for(membership.user, "globex")
    assert as_viewer.get(BASE).json()["results"] == []
    assert as_viewer.post(BASE, definition_body("y"), format="json").status_code == 403


def test_header_naming_a_tenant_the_user_is_not_in_is_forbidden(editor, other_tenant):
    editor.defaults["HTTP_X_WEFT_TENANT"] = "globex"
    response = editor.get(BASE)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "tenant_forbidden"
    editor.defaults["HTTP_X_WEFT_TENANT"] = "no-such-tenant"
    assert editor.get(BASE).json()["error"]["code"] == "tenant_forbidden"


def test_user_without_membership_is_forbidden(user):
    response = client_for(user).get(BASE)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "no_tenant"
