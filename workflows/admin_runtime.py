"""Admin for what runs: instances (the operator's console), and read-only runtime records:
journal entries, activity executions, steps, incidents, workers, dead letters.

Runtime records are written by the engine and the workers only; the admin shows them and acts
through the same services as the API (see admin_instance_actions)."""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from workflows.admin_access import (
    admin_actor,
    admin_may_operate,
    admin_role,
    admin_visible_tenants,
)
from workflows.admin_display import (
    CompactLists,
    compact_time,
    json_text,
    pretty_json,
    short_id,
)
from workflows.admin_instance_actions import ACTIONS, run_action
from workflows.errors import WeftError
from workflows.models import (
    ActivityExecution,
    Bookmark,
    DeadLetter,
    Incident,
    JournalEntry,
    Step,
    StepKind,
    StepStatus,
    WorkerProcess,
    WorkflowInstance,
)
from workflows.selectors.waiting import instance_waiting_on, waiting_sentences
from workflows.services.dead_letters import dead_letter_redrive
from workflows.services.instances import (
    instance_cancel,
    instance_resume,
    instance_retry,
    instance_suspend,
)

JOURNAL_PAGE_SIZE = 50
EXECUTIONS_SHOWN = 200


class ReadOnlyAdmin(CompactLists, admin.ModelAdmin):
    """Records only the runtime writes: no add, no edit, no delete form."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def _instance_link(instance_id) -> str:
    if instance_id is None:
        return "-"
    url = reverse("admin:workflows_workflowinstance_change", args=[instance_id])
    return format_html("<a href='{}'>{}</a>", url, short_id(instance_id))


# ---- instances: the console -------------------------------------------------------------------


def _bulk_action(service, verb: str, description: str):
    def action(modeladmin, request, queryset):
        for instance in queryset.select_related("tenant"):
            if not admin_may_operate(request.user, instance.tenant):
                modeladmin.message_user(
                    request, f"Instance {short_id(instance.id)}: your role in tenant "
                    f"'{instance.tenant.slug}' does not allow this.", messages.ERROR)
                continue
            try:
                service(tenant=instance.tenant, instance_id=instance.id,
                        actor=admin_actor(request.user))
            except WeftError as exc:
                modeladmin.message_user(request, f"Instance {short_id(instance.id)}: "
                                        f"{exc.message}", messages.ERROR)
            else:
                modeladmin.message_user(request, f"Instance {short_id(instance.id)} {verb}.")

    action.short_description = description
    action.__name__ = f"{verb}_selected"
    return action


@admin.register(WorkflowInstance)
class WorkflowInstanceAdmin(ReadOnlyAdmin):
    change_form_template = "admin/workflows/workflowinstance/console.html"
    list_display = ["short_id", "definition", "status", "held", "correlation_id", "tenant",
                    "created", "finished"]
    list_display_links = ["short_id"]
    list_filter = ["status", "held", "tenant", "definition_id"]
    search_fields = ["=id", "definition_id", "correlation_id"]
    list_select_related = ["tenant"]
    list_per_page = 50
    date_hierarchy = "created_at"
    fieldsets = [
        (None, {"fields": [("definition", "version"), ("status", "held", "held_by", "held_at"),
                           "correlation_id", ("tenant", "parent_link"),
                           ("created_at", "updated_at", "finished_at")]}),
        ("Data", {"fields": ["pretty_input", "pretty_output", "pretty_variables",
                             "pretty_http_response"], "classes": ["collapse"]}),
    ]
    readonly_fields = ["definition", "version", "status", "held", "held_by", "held_at",
                       "correlation_id", "tenant", "parent_link", "created_at", "updated_at",
                       "finished_at", "pretty_input", "pretty_output", "pretty_variables",
                       "pretty_http_response"]
    actions = [
        _bulk_action(instance_cancel, "cancelled", "Cancel the selected instances"),
        _bulk_action(instance_suspend, "suspended", "Suspend (hold) the selected instances"),
        _bulk_action(instance_resume, "resumed", "Resume the selected held instances"),
        _bulk_action(instance_retry, "retried", "Retry the selected faulted instances"),
    ]

    def get_queryset(self, request):
        queryset = super().get_queryset(request).defer("state")
        if not request.user.is_superuser:
            queryset = queryset.filter(tenant__in=admin_visible_tenants(request.user))
        return queryset

    # -- columns and fields --

    @admin.display(description="Instance", ordering="id")
    def short_id(self, obj):
        return short_id(obj.id)

    @admin.display(description="Definition", ordering="definition_id")
    def definition(self, obj):
        url = reverse("admin:workflows_workflowdefinition_change",
                      args=[obj.definition_version_id])
        return format_html("<a href='{}'>{} v{}</a>", url, obj.definition_id, obj.version)

    @admin.display(description="Created", ordering="created_at")
    def created(self, obj):
        return compact_time(obj.created_at)

    @admin.display(description="Finished", ordering="finished_at")
    def finished(self, obj):
        return compact_time(obj.finished_at)

    @admin.display(description="Parent")
    def parent_link(self, obj):
        return _instance_link(obj.parent_id)

    @admin.display(description="Input")
    def pretty_input(self, obj):
        return pretty_json(obj.input)

    @admin.display(description="Output")
    def pretty_output(self, obj):
        return pretty_json(obj.output)

    @admin.display(description="Variables")
    def pretty_variables(self, obj):
        return pretty_json(obj.variables)

    @admin.display(description="HTTP response")
    def pretty_http_response(self, obj):
        return pretty_json(obj.http_response)

    # -- the console page --

    def get_urls(self):
        urls = super().get_urls()
        return [
            path("<uuid:object_id>/act/<slug:action>/",
                 self.admin_site.admin_view(self.action_view),
                 name="workflows_workflowinstance_act"),
            *urls,
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        instance = self.get_object(request, object_id)
        context = dict(extra_context or {})
        if instance is not None:
            context.update(self._console_context(request, instance))
        return super().change_view(request, object_id, form_url, extra_context=context)

    def _console_context(self, request, instance: WorkflowInstance) -> dict:
        now = timezone.now()
        waiting = instance_waiting_on(instance=instance)
        bookmarks = list(Bookmark.objects.filter(instance=instance).order_by("created_at"))
        may_operate = admin_may_operate(request.user, instance.tenant)
        actions = [
            {"name": a.name, "label": a.label, "dangerous": a.dangerous,
             "url": reverse("admin:workflows_workflowinstance_act",
                            args=[instance.id, a.name])}
            for a in ACTIONS.values() if a.available(instance, bool(bookmarks))
        ] if may_operate else []
        executions = list(ActivityExecution.objects.filter(instance=instance)
                          .order_by("-id")[:EXECUTIONS_SHOWN])[::-1]
        journal = Paginator(JournalEntry.objects.filter(instance=instance)
                            .order_by("sequence"), JOURNAL_PAGE_SIZE)
        page_number = request.GET.get("journal") or journal.num_pages
        journal_page = journal.get_page(page_number)
        return {
            "now_lines": waiting_sentences(waiting, now=now),
            "fault": waiting.fault,
            "console_actions": actions,
            "may_operate": may_operate,
            "role": "superuser" if request.user.is_superuser
            else admin_role(request.user, instance.tenant),
            "executions": [
                {"record": e, "input": json_text(e.input), "output": json_text(e.output),
                 "error": e.error if isinstance(e.error, str) else json_text(e.error)}
                for e in executions],
            "executions_truncated": len(executions) == EXECUTIONS_SHOWN,
            "incidents": list(Incident.objects.filter(instance=instance)
                              .order_by("-created_at", "-id")[:20]),
            "journal_page": journal_page,
            "steps_url": f"{reverse('admin:workflows_step_changelist')}?instance={instance.id}",
            # For the workflow drawing (see the `workflow_drawing` block of the template).
            "definition_body": instance.definition_version.body,
            "activity_states": {e.activity_id: e.status for e in executions},
        }

    def action_view(self, request, object_id, action):
        instance = get_object_or_404(self.get_queryset(request).select_related("tenant"),
                                     pk=object_id)
        chosen = ACTIONS.get(action)
        if chosen is None:
            raise PermissionDenied("Unknown action.")
        if not self.has_view_permission(request, instance) or \
                not admin_may_operate(request.user, instance.tenant):
            raise PermissionDenied(
                f"Operator actions need the operator role in tenant '{instance.tenant.slug}'.")
        change_url = reverse("admin:workflows_workflowinstance_change", args=[instance.id])
        has_waits = Bookmark.objects.filter(instance=instance).exists()
        if not chosen.available(instance, has_waits):
            self.message_user(request, f"Instance {short_id(instance.id)} is {instance.status}"
                              f": '{chosen.label}' does not apply now.", messages.WARNING)
            return HttpResponseRedirect(change_url)
        form = None
        if chosen.form_class is not None:
            form = chosen.form_class(request.POST or None, instance=instance)
        if request.method == "POST" and (form is None or form.is_valid()):
            try:
                message = run_action(chosen, instance=instance, actor=admin_actor(request.user),
                                     data=form.cleaned_data if form is not None else {})
            except WeftError as exc:
                self.message_user(request, f"Instance {short_id(instance.id)}: {exc.message}",
                                  messages.ERROR)
                return HttpResponseRedirect(change_url)
            self.message_user(request, message, messages.SUCCESS)
            if chosen.name == "delete":
                return HttpResponseRedirect(reverse("admin:workflows_workflowinstance_changelist"))
            return HttpResponseRedirect(change_url)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"{chosen.label}: instance {short_id(instance.id)}",
            "instance": instance,
            "action": chosen,
            "form": form,
            "change_url": change_url,
        }
        return TemplateResponse(request, "admin/workflows/workflowinstance/action_confirm.html",
                                context)


# ---- read-only runtime records ----------------------------------------------------------------


@admin.register(JournalEntry)
class JournalEntryAdmin(ReadOnlyAdmin):
    list_display = ["instance_link", "sequence", "event", "activity", "message", "time"]
    list_filter = ["event"]
    search_fields = ["=instance__id", "activity_id", "message"]
    raw_id_fields = ["instance"]

    @admin.display(description="Instance")
    def instance_link(self, obj):
        return _instance_link(obj.instance_id)

    @admin.display(description="Time", ordering="timestamp")
    def time(self, obj):
        return compact_time(obj.timestamp)

    @admin.display(description="Activity", ordering="activity_id")
    def activity(self, obj):
        if not obj.activity_id:
            return "-"
        return format_html("{} <span class='quiet'>{}</span>", obj.activity_id,
                           obj.activity_type)


@admin.register(ActivityExecution)
class ActivityExecutionAdmin(ReadOnlyAdmin):
    list_display = ["instance_link", "activity_id", "activity_type", "status", "attempt",
                    "outcome", "started", "finished"]
    list_filter = ["status", "activity_type"]
    search_fields = ["=instance__id", "activity_id"]
    fields = ["instance_link", "activity_id", "activity_type", "status", "attempt", "outcome",
              "started_at", "finished_at", "pretty_input", "pretty_output", "error",
              "traceback_text"]
    readonly_fields = fields

    @admin.display(description="Instance")
    def instance_link(self, obj):
        return _instance_link(obj.instance_id)

    @admin.display(description="Started", ordering="started_at")
    def started(self, obj):
        return compact_time(obj.started_at)

    @admin.display(description="Finished", ordering="finished_at")
    def finished(self, obj):
        return compact_time(obj.finished_at)

    @admin.display(description="Input (secrets masked)")
    def pretty_input(self, obj):
        return pretty_json(obj.input)

    @admin.display(description="Output (secrets masked)")
    def pretty_output(self, obj):
        return pretty_json(obj.output)

    @admin.display(description="Traceback")
    def traceback_text(self, obj):
        return format_html("<pre class='weft-json'>{}</pre>", obj.traceback) \
            if obj.traceback else "-"


@admin.register(Incident)
class IncidentAdmin(ReadOnlyAdmin):
    list_display = ["instance_link", "activity_id", "code", "short_message", "created"]
    list_filter = ["code"]
    search_fields = ["=instance__id", "activity_id", "message"]
    fields = ["instance_link", "activity_id", "activity_type", "code", "message", "created_at",
              "traceback_text"]
    readonly_fields = fields

    @admin.display(description="Instance")
    def instance_link(self, obj):
        return _instance_link(obj.instance_id)

    @admin.display(description="Message")
    def short_message(self, obj):
        return obj.message if len(obj.message) <= 120 else obj.message[:117] + "..."

    @admin.display(description="Created", ordering="created_at")
    def created(self, obj):
        return compact_time(obj.created_at)

    @admin.display(description="Traceback")
    def traceback_text(self, obj):
        text = (obj.data or {}).get("traceback")
        return format_html("<pre class='weft-json'>{}</pre>", text) if text else "-"


@admin.register(Step)
class StepAdmin(ReadOnlyAdmin):
    list_display = ["short_id", "instance_link", "kind_name", "activity", "status", "failed",
                    "attempt", "due", "finished"]
    list_filter = ["status", "kind", "queue"]
    search_fields = ["=id", "=instance__id", "task_key", "claimed_by"]
    fields = ["id", "instance_link", "kind", "activity", "status", "failed", "queue",
              "task_key", "attempt", "deliveries", "claimed_by", "run_after", "published_at",
              "lease_until", "started_at", "finished_at", "pretty_error", "pretty_payload"]
    readonly_fields = fields

    @admin.display(description="Step", ordering="id")
    def short_id(self, obj):
        return short_id(obj.id)

    @admin.display(description="Instance")
    def instance_link(self, obj):
        return _instance_link(obj.instance_id)

    @admin.display(description="Kind", ordering="kind")
    def kind_name(self, obj):
        return obj.kind

    @admin.display(description="Activity")
    def activity(self, obj):
        payload = obj.payload or {}
        if obj.kind == StepKind.TASK:
            return f"{payload.get('activity_id')} ({payload.get('activity_type')})"
        if obj.kind in (StepKind.RESUME, StepKind.FAIL):
            return f"resumes {payload.get('bookmark_key')}"
        return "queued work"

    @admin.display(description="Failed", boolean=True)
    def failed(self, obj):
        return obj.status == StepStatus.DEAD or bool(obj.error)

    @admin.display(description="Due", ordering="run_after")
    def due(self, obj):
        return compact_time(obj.run_after)

    @admin.display(description="Finished", ordering="finished_at")
    def finished(self, obj):
        return compact_time(obj.finished_at)

    @admin.display(description="Error")
    def pretty_error(self, obj):
        return pretty_json(obj.error)

    @admin.display(description="Payload (secrets masked)")
    def pretty_payload(self, obj):
        return pretty_json(obj.payload)


@admin.register(WorkerProcess)
class WorkerProcessAdmin(ReadOnlyAdmin):
    list_display = ["name", "hostname", "pid", "state", "steps_in_flight", "heartbeat",
                    "started"]
    list_filter = ["state"]
    search_fields = ["name", "hostname"]

    @admin.display(description="Last heartbeat", ordering="last_heartbeat")
    def heartbeat(self, obj):
        return compact_time(obj.last_heartbeat)

    @admin.display(description="Started", ordering="started_at")
    def started(self, obj):
        return compact_time(obj.started_at)


@admin.register(DeadLetter)
class DeadLetterAdmin(ReadOnlyAdmin):
    list_display = ["message_id", "queue", "task_name", "instance_link", "receive_count",
                    "received", "redriven"]
    list_filter = ["queue", "tenant"]
    search_fields = ["message_id", "=instance__id"]
    fields = ["message_id", "queue", "task_name", "instance_link", "receive_count",
              "received_at", "redriven_at", "pretty_body"]
    readonly_fields = fields
    actions = ["redrive_selected"]

    @admin.display(description="Instance")
    def instance_link(self, obj):
        return _instance_link(obj.instance_id)

    @admin.display(description="Received", ordering="received_at")
    def received(self, obj):
        return compact_time(obj.received_at)

    @admin.display(description="Re-driven", ordering="redriven_at")
    def redriven(self, obj):
        return compact_time(obj.redriven_at)

    @admin.display(description="Message body (secrets masked)")
    def pretty_body(self, obj):
        return pretty_json(obj.body)

    @admin.action(description="Re-drive the selected dead letters")
    def redrive_selected(self, request, queryset):
        for letter in queryset.select_related("tenant"):
            if letter.tenant is None or not admin_may_operate(request.user, letter.tenant):
                self.message_user(request, f"Dead letter {letter.message_id}: not re-driven "
                                  "(no tenant, or your role there does not allow it).",
                                  messages.ERROR)
                continue
            try:
                dead_letter_redrive(tenant=letter.tenant, dead_letter_id=letter.id,
                                    actor=admin_actor(request.user))
            except WeftError as exc:
                self.message_user(request, f"Dead letter {letter.message_id}: {exc.message}",
                                  messages.ERROR)
            else:
                self.message_user(request, f"Dead letter {letter.message_id} re-driven.")
