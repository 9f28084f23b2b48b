"""Admin for what runs: instances with their journal and records, steps, workers, dead letters.
Operator actions call the same services as the API."""

import json

from django.contrib import admin, messages
from django.utils.html import format_html

from workflows.errors import WeftError
from workflows.models import (
    ActivityExecution,
    Bookmark,
    DeadLetter,
    Incident,
    JournalEntry,
    Step,
    WorkerProcess,
    WorkflowInstance,
)
from workflows.services.dead_letters import dead_letter_redrive
from workflows.services.instance_actions import (
    instance_cancel,
    instance_hold,
    instance_release,
    instance_retry,
)


def _pretty(value) -> str:
    return format_html("<pre style='white-space:pre-wrap'>{}</pre>",
                       json.dumps(value, indent=2, default=str))


class _ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def get_readonly_fields(self, request, obj=None):
        return self.fields


class IncidentInline(_ReadOnlyInline):
    model = Incident
    fields = ["created_at", "activity_id", "code", "message"]


class BookmarkInline(_ReadOnlyInline):
    model = Bookmark
    fields = ["name", "activity_id", "correlation_id", "due_at", "created_at"]


class StepInline(_ReadOnlyInline):
    model = Step
    fields = ["kind", "status", "task_key", "attempt", "deliveries", "claimed_by", "run_after",
              "finished_at"]
    ordering = ["-created_at"]


def _operator_action(service, verb: str, description: str):
    def action(modeladmin, request, queryset):
        for instance in queryset.select_related("tenant"):
            try:
                service(tenant=instance.tenant, instance_id=instance.id)
            except WeftError as exc:
                modeladmin.message_user(request, f"{instance.id}: {exc.message}", messages.ERROR)
            else:
                modeladmin.message_user(request, f"{instance.id}: {verb}.")

    action.short_description = description
    action.__name__ = f"{verb}_selected"
    return action


@admin.register(WorkflowInstance)
class WorkflowInstanceAdmin(admin.ModelAdmin):
    list_display = ["id", "definition_id", "version", "status", "held", "correlation_id",
                    "tenant", "created_at", "finished_at"]
    list_filter = ["status", "held", "tenant", "definition_id"]
    search_fields = ["=id", "definition_id", "correlation_id"]
    list_select_related = ["tenant"]
    date_hierarchy = "created_at"
    exclude = ["state", "input", "output", "variables"]
    readonly_fields = ["id", "tenant", "definition_version", "definition_id", "version",
                       "status", "held", "correlation_id", "parent", "parent_bookmark_key",
                       "created_at", "updated_at", "finished_at", "pretty_input",
                       "pretty_output", "pretty_variables", "journal_tail"]
    inlines = [IncidentInline, BookmarkInline, StepInline]
    actions = [
        _operator_action(instance_cancel, "cancelled", "Cancel the selected instances"),
        _operator_action(instance_hold, "suspended", "Suspend (hold) the selected instances"),
        _operator_action(instance_release, "resumed", "Resume the selected held instances"),
        _operator_action(instance_retry, "retried", "Retry the selected faulted instances"),
    ]

    def has_add_permission(self, request):
        return False

    @admin.display(description="Input")
    def pretty_input(self, obj):
        return _pretty(obj.input)

    @admin.display(description="Output")
    def pretty_output(self, obj):
        return _pretty(obj.output)

    @admin.display(description="Variables")
    def pretty_variables(self, obj):
        return _pretty(obj.variables)

    @admin.display(description="Journal (last 50 entries)")
    def journal_tail(self, obj):
        entries = list(obj.journal.order_by("-sequence")[:50])[::-1]
        return format_html(
            "<pre style='white-space:pre-wrap'>{}</pre>",
            "\n".join(f"#{e.sequence} {e.timestamp:%H:%M:%S.%f} {e.event:<10} "
                      f"{e.activity_id or '-'} {e.message}" for e in entries),
        )


@admin.register(JournalEntry)
class JournalEntryAdmin(admin.ModelAdmin):
    list_display = ["instance", "sequence", "event", "activity_id", "activity_type", "message",
                    "timestamp"]
    list_filter = ["event"]
    search_fields = ["=instance__id", "activity_id", "message"]
    list_select_related = ["instance"]
    raw_id_fields = ["instance"]


@admin.register(ActivityExecution)
class ActivityExecutionAdmin(admin.ModelAdmin):
    list_display = ["instance", "activity_id", "activity_type", "status", "attempt", "outcome",
                    "started_at", "finished_at"]
    list_filter = ["status", "activity_type"]
    search_fields = ["=instance__id", "activity_id"]
    list_select_related = ["instance"]
    raw_id_fields = ["instance"]


@admin.register(Step)
class StepAdmin(admin.ModelAdmin):
    list_display = ["id", "instance", "kind", "status", "queue", "attempt", "deliveries",
                    "claimed_by", "run_after", "finished_at"]
    list_filter = ["status", "kind", "queue"]
    search_fields = ["=id", "=instance__id", "task_key", "claimed_by"]
    list_select_related = ["instance"]
    raw_id_fields = ["instance"]


@admin.register(WorkerProcess)
class WorkerProcessAdmin(admin.ModelAdmin):
    list_display = ["name", "hostname", "pid", "state", "steps_in_flight", "last_heartbeat",
                    "started_at"]
    list_filter = ["state"]
    search_fields = ["name", "hostname"]


@admin.register(DeadLetter)
class DeadLetterAdmin(admin.ModelAdmin):
    list_display = ["message_id", "queue", "task_name", "instance", "receive_count",
                    "received_at", "redriven_at"]
    list_filter = ["queue", "tenant"]
    search_fields = ["message_id", "=instance__id"]
    list_select_related = ["instance"]
    raw_id_fields = ["instance", "step"]
    actions = ["redrive_selected"]

    @admin.action(description="Re-drive the selected dead letters")
    def redrive_selected(self, request, queryset):
        for letter in queryset.select_related("tenant"):
            try:
                dead_letter_redrive(tenant=letter.tenant, dead_letter_id=letter.id)
            except WeftError as exc:
                self.message_user(request, f"{letter.message_id}: {exc.message}",
                                  messages.ERROR)
            else:
                self.message_user(request, f"{letter.message_id}: re-driven.")
