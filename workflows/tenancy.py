"""Which tenant a request acts in, and with which role."""

from dataclasses import dataclass

from workflows.errors import Forbidden, InvalidInput
from workflows.models import Membership, Role, Tenant


@dataclass(frozen=True)
class TenantAccess:
    tenant: Tenant
    role: str

    def allows(self, required_role: str) -> bool:
        return Role.rank(self.role) >= Role.rank(required_role)


def tenant_access_resolve(*, user, tenant_slug: str | None) -> TenantAccess:
    """The membership a user acts through: the one named by `X-Weft-Tenant`, or the only one.

    Unknown tenants and tenants the user is not a member of get the same answer, so the header
    cannot be used to discover which tenants exist.
    """
    memberships = Membership.objects.select_related("tenant").filter(user=user)
    if tenant_slug:
        membership = memberships.filter(tenant__slug=tenant_slug).first()
        if membership is None:
            raise Forbidden(
                f"You are not a member of tenant '{tenant_slug}'.", code="tenant_forbidden"
            )
        return TenantAccess(tenant=membership.tenant, role=membership.role)
    found = list(memberships[:2])
    if not found:
        raise Forbidden("You are not a member of any tenant.", code="no_tenant")
    if len(found) > 1:
        raise InvalidInput(
            "You belong to several tenants: name one with the X-Weft-Tenant header.",
            code="tenant_required",
        )
    return TenantAccess(tenant=found[0].tenant, role=found[0].role)
