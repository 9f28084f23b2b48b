"""The Django admin is for platform operators: superusers only.

Weft's data is tenant-scoped everywhere else (the API and the Studio show a user only their
tenants), but the admin shows every tenant's definitions, instances and members. Rather than
scope each admin page by membership, the admin admits only superusers; staff flags and model
permissions alone no longer open it. Tenant members, admins included, work through the API and
the Studio.
"""

from django.contrib.admin import AdminSite
from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.exceptions import ValidationError


class SuperuserAuthenticationForm(AdminAuthenticationForm):
    """Refuses everyone but superusers, with the admin's usual (non-revealing) message."""

    def confirm_login_allowed(self, user) -> None:
        super().confirm_login_allowed(user)
        if not user.is_superuser:
            raise ValidationError(self.error_messages["invalid_login"], code="invalid_login",
                                  params={"username": self.username_field.verbose_name})


class SuperuserAdminSite(AdminSite):
    login_form = SuperuserAuthenticationForm

    def has_permission(self, request) -> bool:
        user = request.user
        return bool(user.is_active and user.is_superuser)
