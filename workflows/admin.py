"""The operator's console: tenants, members, definitions and their versions."""

import json

from django.contrib import admin, messages
from django.utils.html import format_html

from workflows.admin_display import CompactLists, compact_time
from workflows.admin_logging import AuditedAdmin
from workflows.auditing import audited, request_actor
from workflows.errors import WeftError
from workflows.models import Membership, Tenant, WorkflowDefinition
from workflows.services.definitions import definition_publish, definition_retract


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Tenant)
class TenantAdmin(AuditedAdmin, admin.ModelAdmin):
    list_display = ["slug", "name", "created_at"]
    search_fields = ["slug", "name"]
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(AuditedAdmin, admin.ModelAdmin):
    list_display = ["user", "tenant", "role", "created_at"]
    list_filter = ["role", "tenant"]
    search_fields = ["user__username", "tenant__slug"]
    list_select_related = ["user", "tenant"]
    autocomplete_fields = ["user", "tenant"]


@admin.register(WorkflowDefinition)
class WorkflowDefinitionAdmin(AuditedAdmin, CompactLists, admin.ModelAdmin):
    list_display = ["definition_id", "version", "name", "tenant", "state", "updated"]
    list_filter = ["is_published", "is_latest", "tenant"]
    search_fields = ["definition_id", "name", "description"]
    list_select_related = ["tenant", "created_by"]
    ordering = ["tenant__slug", "definition_id", "-version"]
    readonly_fields = ["tenant", "definition_id", "version", "name", "description", "is_latest",
                       "is_published", "created_by", "created_at", "updated_at", "published_at",
                       "pretty_body", "other_versions"]
    exclude = ["body"]
    actions = ["publish_selected", "retract_selected"]

    def has_add_permission(self, request):
        # Definitions are written through the API (validated, versioned), not typed in here.
        return False

    @admin.display(description="State", ordering="is_published")
    def state(self, obj: WorkflowDefinition) -> str:
        if obj.is_published:
            return "published"
        return "draft" if obj.is_latest else "older version"

    @admin.display(description="Updated", ordering="updated_at")
    def updated(self, obj: WorkflowDefinition) -> str:
        return compact_time(obj.updated_at)

    @admin.display(description="Definition")
    def pretty_body(self, obj: WorkflowDefinition) -> str:
        return format_html("<pre style='white-space:pre-wrap'>{}</pre>",
                           json.dumps(obj.body, indent=2, sort_keys=False))

    @admin.display(description="Versions")
    def other_versions(self, obj: WorkflowDefinition) -> str:
        rows = WorkflowDefinition.objects.filter(
            tenant_id=obj.tenant_id, definition_id=obj.definition_id
        ).order_by("-version").values_list("pk", "version", "is_published")
        return format_html(
            "{}",
            ", ".join(f"v{version}{' (published)' if published else ''}"
                      for _, version, published in rows),
        )

    def _apply(self, request, queryset, service, action: str, verb: str) -> None:
        actor = request_actor(request, via="admin")
        for definition in queryset.select_related("tenant"):
            try:
                with audited(actor, action=action, tenant=definition.tenant,
                             target_type="definition", target_id=definition.definition_id,
                             summary=f"{verb} (from version {definition.version})"):
                    service(tenant=definition.tenant, user=request.user,
                            definition_id=definition.definition_id)
            except WeftError as exc:
                self.message_user(request, f"{definition}: {exc.message}", messages.ERROR)
            else:
                self.message_user(request, f"{definition.definition_id}: {verb}.")

    @admin.action(description="Publish the latest version of the selected definitions")
    def publish_selected(self, request, queryset):
        self._apply(request, queryset, definition_publish, "definition.publish", "published")

    @admin.action(description="Retract the selected definitions")
    def retract_selected(self, request, queryset):
        self._apply(request, queryset, definition_retract, "definition.retract", "retracted")

from workflows import (  # noqa: E402, F401  (register the runtime models and the audit log)
    admin_audit,
    admin_records,
    admin_runtime,
    admin_secrets,
)
