"""The audit log in the admin: read-only for everyone (no add, edit or delete), each staff
user seeing their tenants' entries (a superuser sees all, platform-wide ones too). The auth and
beat-schedule admins are re-registered with the audit hooks, so that user, group and schedule
edits are recorded as well."""

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django_celery_beat.models import (
    ClockedSchedule,
    CrontabSchedule,
    IntervalSchedule,
    PeriodicTask,
    SolarSchedule,
)

from workflows.admin_access import admin_visible_tenants
from workflows.admin_display import CompactLists, compact_time, pretty_json
from workflows.admin_logging import AuditedAdmin
from workflows.admin_paging import LargeTableAdmin, RecentValuesFilter
from workflows.models import AuditEntry


@admin.register(AuditEntry)
class AuditEntryAdmin(LargeTableAdmin, CompactLists, admin.ModelAdmin):
    list_display = ["when", "actor", "via", "action", "target_type", "target_id", "summary",
                    "tenant_slug", "client_address"]
    # Choices from recent entries; a date filter instead of date_hierarchy (whose links are a
    # SELECT DISTINCT over the whole log).
    list_filter = [("action", RecentValuesFilter), ("via", RecentValuesFilter),
                   ("target_type", RecentValuesFilter), ("tenant_slug", RecentValuesFilter),
                   "at"]
    search_fields = ["actor", "target_id", "request_id", "summary"]
    fields = ["at", "tenant_slug", "actor", "via", "action", "target_type", "target_id",
              "summary", "pretty_details", "request_id", "client_address"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        entries = super().get_queryset(request)
        if request.user.is_superuser:
            return entries
        return entries.filter(tenant__in=admin_visible_tenants(request.user))

    @admin.display(description="When", ordering="id")
    def when(self, obj):
        return compact_time(obj.at)

    @admin.display(description="Details")
    def pretty_details(self, obj):
        return pretty_json(obj.details)


def _audit_registered(model) -> None:
    """Swap the registered admin of `model` for the same admin with the audit hooks."""
    if not admin.site.is_registered(model):
        return
    current = type(admin.site.get_model_admin(model))
    admin.site.unregister(model)
    admin.site.register(model, type(f"Audited{current.__name__}", (AuditedAdmin, current), {}))


for _model in (get_user_model(), Group, PeriodicTask, IntervalSchedule, CrontabSchedule,
               SolarSchedule, ClockedSchedule):
    _audit_registered(_model)
