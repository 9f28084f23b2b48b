"""Reads about tenants and their members."""

from django.contrib.auth import get_user_model

from workflows.errors import NotFound
from workflows.models import Tenant


def member_get(*, tenant: Tenant, username: str):
    """A user who is a member of `tenant`; anyone else is a 404 (as if they did not exist)."""
    user = get_user_model().objects.filter(
        username=username, weft_memberships__tenant=tenant).first()
    if user is None:
        raise NotFound(f"No member '{username}' in this tenant.", code="member_not_found")
    return user
