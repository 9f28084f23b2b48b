"""Refresh-token rotation and revocation, and revoking every token of a user, through the API."""

import pytest
from rest_framework.test import APIClient

from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db

PASSWORD = "pw-123456"


def login(username: str) -> dict:
    response = APIClient().post("/api/v1/auth/token/", {"username": username,
                                                        "password": PASSWORD}, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def bearer(access: str, tenant: str | None = None) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    if tenant:
        client.defaults["HTTP_X_WEFT_TENANT"] = tenant
    return client


def refresh(token: str):
    return APIClient().post("/api/v1/auth/token/refresh/", {"refresh": token}, format="json")


@pytest.fixture
def bob(tenant):
    return MembershipFactory(tenant=tenant, user__username="bob", role="editor").user


def test_refresh_rotates_and_the_used_refresh_token_is_refused_afterwards(bob):
    tokens = login("bob")
    first = refresh(tokens["refresh"])
    assert first.status_code == 200
    rotated = first.json()
    assert set(rotated) == {"access", "refresh"}
    assert rotated["refresh"] != tokens["refresh"]
    replay = refresh(tokens["refresh"])
    assert replay.status_code == 401
    assert replay.json()["error"]["code"] == "authentication_failed"
    assert refresh(rotated["refresh"]).status_code == 200
    assert bearer(rotated["access"]).get("/api/v1/definitions/").status_code == 200


def test_logout_revokes_the_refresh_token(bob):
    tokens = login("bob")
    response = bearer(tokens["access"]).post("/api/v1/auth/token/revoke/",
                                             {"refresh": tokens["refresh"]}, format="json")
    assert response.status_code == 200
    assert refresh(tokens["refresh"]).status_code == 401


def test_logout_with_a_garbage_token_is_401_not_500(bob):
    response = APIClient().post("/api/v1/auth/token/revoke/", {"refresh": "nope"},
                                format="json")
    assert response.status_code == 401
    assert set(response.json()["error"]) == {"code", "message", "details"}


def test_revoking_my_tokens_stops_access_and_refresh_tokens_at_once(bob):
    laptop, phone = login("bob"), login("bob")
    response = bearer(laptop["access"]).post("/api/v1/auth/tokens/revoke-all/")
    assert response.status_code == 200
    assert response.json() == {"username": "bob", "token_version": 1}
    for session in (laptop, phone):
        denied = bearer(session["access"]).get("/api/v1/definitions/")
        assert denied.status_code == 401
        assert "revoked" in denied.json()["error"]["message"]
        assert refresh(session["refresh"]).status_code == 401
    fresh = login("bob")
    assert bearer(fresh["access"]).get("/api/v1/definitions/").status_code == 200
    assert refresh(fresh["refresh"]).status_code == 200


def test_a_tenant_admin_revokes_a_members_tokens(tenant, bob):
    MembershipFactory(tenant=tenant, user__username="ada", role="admin")
    bobs = login("bob")
    admin = bearer(login("ada")["access"])
    response = admin.post("/api/v1/members/bob/revoke-tokens/")
    assert response.status_code == 200
    assert response.json()["username"] == "bob"
    assert bearer(bobs["access"]).get("/api/v1/definitions/").status_code == 401
    assert refresh(bobs["refresh"]).status_code == 401
    # The admin's own tokens are untouched.
    assert admin.get("/api/v1/definitions/").status_code == 200


def test_only_admins_revoke_and_only_their_own_members(tenant, other_tenant, bob):
    MembershipFactory(tenant=tenant, user__username="eve", role="editor")
    MembershipFactory(tenant=other_tenant, user__username="mallory", role="admin")
    bobs = login("bob")
    editor = bearer(login("eve")["access"]).post("/api/v1/members/bob/revoke-tokens/")
    assert editor.status_code == 403
    outsider = bearer(login("mallory")["access"]).post("/api/v1/members/bob/revoke-tokens/")
    assert outsider.status_code == 404
    assert bearer(bobs["access"]).get("/api/v1/definitions/").status_code == 200


def test_revocation_reaches_refresh_tokens_the_blacklist_never_recorded(bob):
    """A refresh token minted outside the login view (never recorded as outstanding) is still
    refused after revocation: the version claim covers it."""
    from rest_framework_simplejwt.token_blacklist.models import OutstandingToken
    from rest_framework_simplejwt.tokens import RefreshToken

    from workflows.services.tokens import user_tokens_revoke

    token = RefreshToken.for_user(bob)
    OutstandingToken.objects.filter(jti=token["jti"]).delete()
    user_tokens_revoke(user=bob)
    assert refresh(str(token)).status_code == 401


def test_operators_revoke_a_users_tokens_from_the_command_line(bob):
    from io import StringIO

    from django.core.management import call_command
    from django.core.management.base import CommandError

    tokens = login("bob")
    out = StringIO()
    call_command("weft_revoke_tokens", "bob", stdout=out)
    assert "revoked every token of bob" in out.getvalue()
    assert bearer(tokens["access"]).get("/api/v1/definitions/").status_code == 401
    with pytest.raises(CommandError, match="No user"):
        call_command("weft_revoke_tokens", "nobody")
