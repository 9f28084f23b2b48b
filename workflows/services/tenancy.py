"""Tenants and their members."""

from django.contrib.auth import get_user_model
from django.db import transaction

from workflows.errors import InvalidInput
from workflows.models import Membership, Role, Tenant


@transaction.atomic
def tenant_member_ensure(
    *, tenant_slug: str, username: str, role: str, password: str | None = None,
    tenant_name: str | None = None,
) -> Membership:
    """Create the tenant when missing, the user when missing, and set the user's role there."""
    if role not in Role.values:
        raise InvalidInput(
            f"Unknown role '{role}'.",
            errors=[{"path": "role", "message": f"One of {', '.join(Role.values)}."}],
        )
    tenant, _ = Tenant.objects.get_or_create(
        slug=tenant_slug, defaults={"name": tenant_name or tenant_slug}
    )
    user_model = get_user_model()
    user, created = user_model.objects.get_or_create(username=username)
    if password:
        user.set_password(password)
        user.save(update_fields=["password"])
    elif created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    membership, _ = Membership.objects.update_or_create(
        tenant=tenant, user=user, defaults={"role": role}
    )
    return membership
