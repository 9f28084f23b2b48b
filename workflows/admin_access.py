"""Which operator actions a staff user may take in the admin: the same roles as the API,
through the user's membership in the instance's tenant. Superusers may act in every tenant."""

from workflows.models import Membership, Role, Tenant


def admin_role(user, tenant: Tenant) -> str | None:
    membership = Membership.objects.filter(user=user, tenant=tenant).only("role").first()
    return membership.role if membership else None


def admin_may_operate(user, tenant: Tenant) -> bool:
    if user.is_superuser:
        return True
    role = admin_role(user, tenant)
    return role is not None and Role.rank(role) >= Role.rank(Role.OPERATOR)


def admin_actor(user) -> str:
    """How the journal names an admin user."""
    return f"{user.get_username()} (admin)"


def admin_visible_tenants(user):
    """Tenants whose runtime records a staff user sees (all of them for a superuser)."""
    if user.is_superuser:
        return Tenant.objects.all()
    return Tenant.objects.filter(memberships__user=user)
