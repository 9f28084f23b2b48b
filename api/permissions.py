"""Tenant resolution and the role matrix, applied to every tenant-scoped view."""

import structlog
from rest_framework.permissions import SAFE_METHODS, BasePermission

from workflows.errors import Forbidden
from workflows.models import Role
from workflows.tenancy import tenant_access_resolve


class TenantRole(BasePermission):
    """Resolves `request.tenant_access` and checks the view's required role.

    Views declare `read_role` (safe methods, default viewer) and `write_role` (others), or a
    `required_role` that applies to every method.
    """

    def has_permission(self, request, view) -> bool:
        if not request.user or not request.user.is_authenticated:
            return False
        access = tenant_access_resolve(
            user=request.user, tenant_slug=request.headers.get("X-Weft-Tenant")
        )
        request.tenant_access = access
        structlog.contextvars.bind_contextvars(
            tenant=access.tenant.slug, user=request.user.get_username()
        )
        required = getattr(view, "required_role", None) or (
            getattr(view, "read_role", Role.VIEWER)
            if request.method in SAFE_METHODS
            else getattr(view, "write_role", Role.EDITOR)
        )
        if not access.allows(required):
            raise Forbidden(
                f"This needs the '{required}' role; you are '{access.role}' in "
                f"'{access.tenant.slug}'.",
                code="role_required",
            )
        return True
