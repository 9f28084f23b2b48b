import pytest
from django.contrib.auth import authenticate
from django.core.management import CommandError, call_command

from workflows.models import Membership, Tenant

pytestmark = pytest.mark.django_db


def test_creates_tenant_user_and_membership():
    call_command("weft_user", "acme", "alice", "--role", "operator", "--password", "s3cret-pw")
    membership = Membership.objects.select_related("tenant", "user").get()
    assert (membership.tenant.slug, membership.user.username, membership.role) == (
        "acme", "alice", "operator")
    assert authenticate(username="alice", password="s3cret-pw") is not None


def test_running_again_changes_the_role_without_duplicating():
    call_command("weft_user", "acme", "alice", "--role", "viewer", "--password", "pw-1234567")
    call_command("weft_user", "acme", "alice", "--role", "admin")
    assert Tenant.objects.count() == 1
    assert Membership.objects.get().role == "admin"
    assert authenticate(username="alice", password="pw-1234567") is not None


def test_same_user_joins_a_second_tenant():
    call_command("weft_user", "acme", "alice", "--role", "viewer", "--password", "pw-1234567")
    call_command("weft_user", "globex", "alice", "--role", "editor")
    assert sorted(Membership.objects.values_list("tenant__slug", "role")) == [
        ("acme", "viewer"), ("globex", "editor")]


def test_bad_role_and_bad_slug_are_clear_errors():
    with pytest.raises(CommandError):
        call_command("weft_user", "acme", "alice", "--role", "owner")
    with pytest.raises(CommandError, match="Invalid tenant slug"):
        call_command("weft_user", "not a slug", "alice", "--role", "viewer")
    assert not Tenant.objects.exists()


@pytest.mark.parametrize(("username", "password", "message"), [
    ("", None, "Invalid username ''"),
    ("bad name!", None, "Invalid username 'bad name!'"),
    ("x" * 151, None, "Invalid username"),
    ("alice", "short", "too short"),
])
def test_bad_usernames_and_weak_passwords_are_clear_errors(username, password, message):
    args = ["weft_user", "acme", username, "--role", "viewer"]
    with pytest.raises(CommandError, match=message):
        call_command(*args, *(["--password", password] if password else []))
    assert not Membership.objects.exists()


def test_api_tokens_are_created_once_per_name_and_checked():
    from io import StringIO

    from workflows.models import ApiToken
    from workflows.services.tenancy import token_hash

    call_command("weft_user", "acme", "alice", "--role", "admin")
    out = StringIO()
    call_command("weft_token", "acme", "orders", stdout=out)
    token = out.getvalue().strip()
    assert token.startswith("wft_")
    assert ApiToken.objects.get(name="orders").token_hash == token_hash(token)
    with pytest.raises(CommandError, match="already has a token named 'orders'"):
        call_command("weft_token", "acme", "orders")
    with pytest.raises(CommandError, match="No tenant 'nosuch'"):
        call_command("weft_token", "nosuch", "orders")
    with pytest.raises(CommandError, match="A token name is 1 to 100 characters"):
        call_command("weft_token", "acme", "   ")
    assert ApiToken.objects.count() == 1
