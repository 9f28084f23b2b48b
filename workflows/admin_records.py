"""Read-only admin of the records only the runtime writes: journal entries, activity
executions, incidents, steps, worker processes and dead letters (which operators may re-drive,
through the service the API uses)."""

from django.contrib import admin, messages
from django.utils.html import format_html

from workflows.admin_access import admin_actor, admin_may_operate
from workflows.admin_display import (
    ReadOnlyAdmin,
    compact_time,
    instance_link,
    pretty_json,
    short_id,
)
from workflows.admin_paging import LargeTableAdmin, RecentValuesFilter
from workflows.auditing import audited, request_actor
from workflows.errors import WeftError
from workflows.models import (
    ActivityExecution,
    DeadLetter,
    Incident,
    JournalEntry,
    Step,
    StepKind,
    StepStatus,
    TriggerFire,
    WorkerProcess,
)
from workflows.services.dead_letters import dead_letter_redrive

# The journal and the executions are the biggest tables (partitioned by month): their lists go
# newest first by id, which every partition's primary key serves (a merge of backward index
# scans that stops after the page), and only by id. The model's own order (by instance, that
# is by the instance's created_at) joins the instance table and sorts millions of rows, and a
# column such as the timestamp has no index to sort by.
NEWEST_FIRST = ["-id"]


@admin.register(JournalEntry)
class JournalEntryAdmin(LargeTableAdmin, ReadOnlyAdmin):
    list_display = ["instance_link", "sequence", "event", "activity", "message", "time"]
    list_filter = [("event", RecentValuesFilter)]
    search_fields = ["=instance__id", "activity_id", "message"]
    raw_id_fields = ["instance"]
    ordering = NEWEST_FIRST
    sortable_by = ["time"]

    @admin.display(description="Instance")
    def instance_link(self, obj):
        return instance_link(obj.instance_id)

    # Entries are appended as they happen: the id order is the time order, and is indexed.
    @admin.display(description="Time", ordering="id")
    def time(self, obj):
        return compact_time(obj.timestamp)

    @admin.display(description="Activity")
    def activity(self, obj):
        if not obj.activity_id:
            return "-"
        return format_html("{} <span class='quiet'>{}</span>", obj.activity_id,
                           obj.activity_type)


@admin.register(ActivityExecution)
class ActivityExecutionAdmin(LargeTableAdmin, ReadOnlyAdmin):
    list_display = ["instance_link", "activity_id", "activity_type", "status", "attempt",
                    "outcome", "started", "finished"]
    list_filter = [("status", RecentValuesFilter), ("activity_type", RecentValuesFilter)]
    search_fields = ["=instance__id", "activity_id"]
    ordering = NEWEST_FIRST
    sortable_by = ["started"]
    fields = ["instance_link", "activity_id", "activity_type", "status", "attempt", "outcome",
              "started_at", "finished_at", "pretty_input", "pretty_output", "error",
              "traceback_text"]
    readonly_fields = fields

    @admin.display(description="Instance")
    def instance_link(self, obj):
        return instance_link(obj.instance_id)

    # An execution's row is first written by the step that starts it: the id order is the start
    # order, to within a step.
    @admin.display(description="Started", ordering="id")
    def started(self, obj):
        return compact_time(obj.started_at)

    @admin.display(description="Finished")
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
class IncidentAdmin(LargeTableAdmin, ReadOnlyAdmin):
    list_display = ["instance_link", "activity_id", "code", "short_message", "created"]
    list_filter = [("code", RecentValuesFilter)]
    search_fields = ["=instance__id", "activity_id", "message"]
    fields = ["instance_link", "activity_id", "activity_type", "code", "message", "created_at",
              "traceback_text"]
    readonly_fields = fields

    @admin.display(description="Instance")
    def instance_link(self, obj):
        return instance_link(obj.instance_id)

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
class StepAdmin(LargeTableAdmin, ReadOnlyAdmin):
    list_display = ["short_id", "instance_link", "kind_name", "activity", "status", "failed",
                    "attempt", "due", "finished"]
    list_filter = ["status", "kind", ("queue", RecentValuesFilter)]
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
        return instance_link(obj.instance_id)

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
class DeadLetterAdmin(LargeTableAdmin, ReadOnlyAdmin):
    list_display = ["message_id", "queue", "task_name", "instance_link", "receive_count",
                    "received", "redriven"]
    list_filter = [("queue", RecentValuesFilter), "tenant"]
    recent_order = "-received_at"
    search_fields = ["message_id", "=instance__id"]
    fields = ["message_id", "queue", "task_name", "instance_link", "receive_count",
              "received_at", "redriven_at", "pretty_body"]
    readonly_fields = fields
    actions = ["redrive_selected"]

    @admin.display(description="Instance")
    def instance_link(self, obj):
        return instance_link(obj.instance_id)

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
                with audited(request_actor(request, via="admin"), action="dead_letter.redrive",
                             tenant=letter.tenant, target_type="dead_letter",
                             target_id=str(letter.id),
                             summary=f"re-drove message {letter.message_id} of {letter.queue}"):
                    dead_letter_redrive(tenant=letter.tenant, dead_letter_id=letter.id,
                                        actor=admin_actor(request.user))
            except WeftError as exc:
                self.message_user(request, f"Dead letter {letter.message_id}: {exc.message}",
                                  messages.ERROR)
            else:
                self.message_user(request, f"Dead letter {letter.message_id} re-driven.")


@admin.register(TriggerFire)
class TriggerFireAdmin(LargeTableAdmin, ReadOnlyAdmin):
    """Each fire of a Cron, Timer or StartAt trigger (an interval of a second writes 86,400 a
    day; retention bounds them by age): did it fire, and what did it start?"""

    list_display = ["scheduled", "trigger_name", "outcome", "instance_link", "fired"]
    list_filter = [("outcome", RecentValuesFilter)]
    list_select_related = ["trigger"]
    search_fields = ["=instance__id"]
    ordering = NEWEST_FIRST
    sortable_by = ["fired"]
    fields = ["trigger_name", "scheduled_for", "outcome", "instance_link", "fired_at"]
    readonly_fields = fields

    @admin.display(description="Trigger")
    def trigger_name(self, obj):
        trigger = obj.trigger
        return format_html("{} <span class='quiet'>{} {}</span>", trigger.definition_id,
                           trigger.type, trigger.activity_id)

    @admin.display(description="Instance")
    def instance_link(self, obj):
        return instance_link(obj.instance_id)

    @admin.display(description="Scheduled for")
    def scheduled(self, obj):
        return compact_time(obj.scheduled_for)

    # Fires are written as they happen: the id order is the fire order, and is indexed.
    @admin.display(description="Fired", ordering="id")
    def fired(self, obj):
        return compact_time(obj.fired_at)
