"""Admin for what runs: instances with their journal and records, steps, workers, dead letters.
Operator actions call the same services as the API."""

import json

from django.contrib import admin, messages
from django.db import models
from django.utils.html import format_html

from runtime.engine.masking import mask_secrets
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
from workflows.services.instances import (
    instance_cancel,
    instance_resume,
    instance_retry,
    instance_suspend,
)


def _pretty(value, secret_names=()) -> str:
    """JSON for reading, secrets masked: sealed columns read back in clear in memory."""
    return format_html("<pre style='white-space:pre-wrap'>{}</pre>",
                       json.dumps(mask_secrets(value, secret_names), indent=2, default=str))


def _json_fields(model) -> list[str]:
    return [f.name for f in model._meta.concrete_fields if isinstance(f, models.JSONField)]


class _MaskedJSONMixin:
    """Shows the model's JSON columns read-only and masked, never as editable raw JSON."""

    def get_exclude(self, request, obj=None):
        return [*(super().get_exclude(request, obj) or []), *_json_fields(self.model)]

    def get_readonly_fields(self, request, obj=None):
        return [*super().get_readonly_fields(request, obj), "masked_json"]

    @admin.display(description="Data (secrets masked)")
    def masked_json(self, obj):
        # Each column masked on its own: a document may list its own secret names.
        masked = {name: mask_secrets(getattr(obj, name)) for name in _json_fields(self.model)}
        return _pretty(masked)


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


def _secret_names(instance: WorkflowInstance) -> frozenset[str]:
    return frozenset((instance.state or {}).get("secret_names") or ())


@admin.register(WorkflowInstance)
class WorkflowInstanceAdmin(admin.ModelAdmin):
    list_display = ["id", "definition_id", "version", "status", "held", "correlation_id",
                    "tenant", "created_at", "finished_at"]
    list_filter = ["status", "held", "tenant", "definition_id"]
    search_fields = ["=id", "definition_id", "correlation_id"]
    list_select_related = ["tenant"]
    date_hierarchy = "created_at"
    exclude = ["state", "input", "output", "variables", "http_response"]
    readonly_fields = ["id", "tenant", "definition_version", "definition_id", "version",
                       "status", "held", "correlation_id", "parent", "parent_bookmark_key",
                       "created_at", "updated_at", "finished_at", "pretty_input",
                       "pretty_output", "pretty_variables", "journal_tail"]
    inlines = [IncidentInline, BookmarkInline, StepInline]
    actions = [
        _operator_action(instance_cancel, "cancelled", "Cancel the selected instances"),
        _operator_action(instance_suspend, "suspended", "Suspend (hold) the selected instances"),
        _operator_action(instance_resume, "resumed", "Resume the selected held instances"),
        _operator_action(instance_retry, "retried", "Retry the selected faulted instances"),
    ]

    def has_add_permission(self, request):
        return False

    @admin.display(description="Input")
    def pretty_input(self, obj):
        return _pretty(obj.input, _secret_names(obj))

    @admin.display(description="Output")
    def pretty_output(self, obj):
        return _pretty(obj.output, _secret_names(obj))

    @admin.display(description="Variables")
    def pretty_variables(self, obj):
        return _pretty(obj.variables, _secret_names(obj))

    @admin.display(description="Journal (last 50 entries)")
    def journal_tail(self, obj):
        entries = list(obj.journal.order_by("-sequence")[:50])[::-1]
        return format_html(
            "<pre style='white-space:pre-wrap'>{}</pre>",
            "\n".join(f"#{e.sequence} {e.timestamp:%H:%M:%S.%f} {e.event:<10} "
                      f"{e.activity_id or '-'} {e.message}" for e in entries),
        )


@admin.register(JournalEntry)
class JournalEntryAdmin(_MaskedJSONMixin, admin.ModelAdmin):
    list_display = ["instance", "sequence", "event", "activity_id", "activity_type", "message",
                    "timestamp"]
    list_filter = ["event"]
    search_fields = ["=instance__id", "activity_id", "message"]
    list_select_related = ["instance"]
    raw_id_fields = ["instance"]


@admin.register(ActivityExecution)
class ActivityExecutionAdmin(_MaskedJSONMixin, admin.ModelAdmin):
    list_display = ["instance", "activity_id", "activity_type", "status", "attempt", "outcome",
                    "started_at", "finished_at"]
    list_filter = ["status", "activity_type"]
    search_fields = ["=instance__id", "activity_id"]
    list_select_related = ["instance"]
    raw_id_fields = ["instance"]


@admin.register(Step)
class StepAdmin(_MaskedJSONMixin, admin.ModelAdmin):
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
class DeadLetterAdmin(_MaskedJSONMixin, admin.ModelAdmin):
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
