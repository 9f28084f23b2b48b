"""The operators' console: the admin of workflow instances. Its page says what an instance is
doing now, offers the actions that apply (confirmation pages that call the same services as the
API, see admin_instance_actions) and shows executions and the journal. The read-only runtime
records are in admin_records."""

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
    ReadOnlyAdmin,
    change_url,
    compact_time,
    instance_link,
    json_text,
    pretty_json,
    short_id,
)
from workflows.admin_instance_actions import ACTIONS, run_action
from workflows.admin_paging import LargeTableAdmin, RecentValuesFilter
from workflows.auditing import audited, request_actor
from workflows.errors import WeftError
from workflows.models import (
    ActivityExecution,
    Bookmark,
    Incident,
    JournalEntry,
    WorkflowInstance,
)
from workflows.selectors.instances import INSTANCE_UNSHOWN
from workflows.selectors.waiting import instance_waiting_on, waiting_sentences
from workflows.services.instance_actions import (
    instance_cancel,
    instance_hold,
    instance_release,
    instance_retry,
)

JOURNAL_PAGE_SIZE = 50
EXECUTIONS_SHOWN = 200


# ---- instances: the console -------------------------------------------------------------------


def _bulk_action(service, verb: str, description: str, audit_action: str):
    def action(modeladmin, request, queryset):
        audit_actor = request_actor(request, via="admin")
        for instance in queryset.select_related("tenant"):
            if not admin_may_operate(request.user, instance.tenant):
                modeladmin.message_user(
                    request, f"Instance {short_id(instance.id)}: your role in tenant "
                    f"'{instance.tenant.slug}' does not allow this.", messages.ERROR)
                continue
            try:
                with audited(audit_actor, action=audit_action, tenant=instance.tenant,
                             target_type="instance", target_id=str(instance.id),
                             summary=verb):
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


def _secret_names(instance: WorkflowInstance) -> frozenset[str]:
    """Names the instance's definition marks secret (listed in its engine state)."""
    return frozenset((instance.state or {}).get("secret_names") or ())


@admin.register(WorkflowInstance)
class WorkflowInstanceAdmin(LargeTableAdmin, ReadOnlyAdmin):
    change_form_template = "admin/workflows/workflowinstance/console.html"
    list_display = ["short_id", "definition", "status", "held", "correlation_id", "tenant",
                    "created", "finished"]
    list_display_links = ["short_id"]
    # No date_hierarchy: its year and month links are a SELECT DISTINCT over every instance.
    list_filter = ["status", "held", "tenant", ("definition_id", RecentValuesFilter),
                   "created_at"]
    search_fields = ["=id", "definition_id", "correlation_id"]
    list_select_related = ["tenant"]
    list_per_page = 50
    recent_order = "-created_at"
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
        _bulk_action(instance_cancel, "cancelled", "Cancel the selected instances",
                     "instance.cancel"),
        _bulk_action(instance_hold, "suspended", "Suspend (hold) the selected instances",
                     "instance.suspend"),
        _bulk_action(instance_release, "resumed", "Resume the selected held instances",
                     "instance.resume"),
        _bulk_action(instance_retry, "retried", "Retry the selected faulted instances",
                     "instance.retry"),
    ]

    def get_queryset(self, request):
        queryset = super().get_queryset(request).defer(*INSTANCE_UNSHOWN)
        if not request.user.is_superuser:
            queryset = queryset.filter(tenant__in=admin_visible_tenants(request.user))
        return queryset

    # -- columns and fields --

    @admin.display(description="Instance", ordering="id")
    def short_id(self, obj):
        return short_id(obj.id)

    @admin.display(description="Definition", ordering="definition_id")
    def definition(self, obj):
        url = change_url("workflowdefinition", obj.definition_version_id)
        return format_html("<a href='{}'>{} v{}</a>", url, obj.definition_id, obj.version)

    @admin.display(description="Created", ordering="created_at")
    def created(self, obj):
        return compact_time(obj.created_at)

    @admin.display(description="Finished", ordering="finished_at")
    def finished(self, obj):
        return compact_time(obj.finished_at)

    @admin.display(description="Parent")
    def parent_link(self, obj):
        return instance_link(obj.parent_id)

    @admin.display(description="Input")
    def pretty_input(self, obj):
        return pretty_json(obj.input, secret_names=_secret_names(obj))

    @admin.display(description="Output")
    def pretty_output(self, obj):
        return pretty_json(obj.output, secret_names=_secret_names(obj))

    @admin.display(description="Variables")
    def pretty_variables(self, obj):
        return pretty_json(obj.variables, secret_names=_secret_names(obj))

    @admin.display(description="HTTP response")
    def pretty_http_response(self, obj):
        return pretty_json(obj.http_response, secret_names=_secret_names(obj))

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
        secrets = _secret_names(instance)
        waiting = instance_waiting_on(instance=instance)
        bookmarks = list(Bookmark.objects.filter(instance=instance).order_by("created_at"))
        may_operate = admin_may_operate(request.user, instance.tenant)
        actions = [
            {"name": a.name, "label": a.label, "dangerous": a.dangerous,
             "url": reverse("admin:workflows_workflowinstance_act",
                            args=[instance.id, a.name])}
            for a in ACTIONS.values() if a.available(instance, bool(bookmarks))
        ] if may_operate else []
        # The partition key: one month's partition read (docs/decisions.md "Partitions").
        mine = {"instance": instance, "instance_created_at": instance.created_at}
        executions = list(ActivityExecution.objects.filter(**mine)
                          .order_by("-id")[:EXECUTIONS_SHOWN])[::-1]
        journal = Paginator(JournalEntry.objects.filter(**mine)
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
                {"record": e, "input": json_text(e.input, secrets),
                 "output": json_text(e.output, secrets),
                 "error": e.error if isinstance(e.error, str) else json_text(e.error, secrets)}
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
                                     data=form.cleaned_data if form is not None else {},
                                     audit_actor=request_actor(request, via="admin"))
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
