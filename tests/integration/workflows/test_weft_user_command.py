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
