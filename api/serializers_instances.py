"""Shapes of instances and what hangs off them (SPEC section 2)."""

from drf_spectacular.utils import extend_schema_field, extend_schema_serializer
from rest_framework import serializers

from runtime.engine.masking import mask_secrets
from workflows.models import ActivityExecution, Bookmark, Incident, JournalEntry, WorkflowInstance


class MaskedSerializer(serializers.ModelSerializer):
    """Shows `masked_fields` with secrets masked (runtime.engine.masking): stored copies are
    encrypted or masked already, and what the engine reads back in clear is never shown."""

    masked_fields: tuple[str, ...] = ()

    def to_representation(self, instance):
        data = super().to_representation(instance)
        # A definition's secret names, when the engine state is already loaded (never a query).
        state = instance.__dict__.get("state")
        extra = frozenset(state.get("secret_names") or ()) if isinstance(state, dict) else ()
        for name in self.masked_fields:
            if name in data:
                data[name] = mask_secrets(data[name], extra)
        return data


class IncidentSerializer(MaskedSerializer):
    masked_fields = ("message", "data")

    class Meta:
        model = Incident
        fields = ["activity_id", "activity_type", "code", "message", "data", "created_at"]


class InstanceSerializer(MaskedSerializer):
    masked_fields = ("input", "output", "variables")
    incidents = IncidentSerializer(many=True, read_only=True)
    parent_id = serializers.UUIDField(read_only=True, allow_null=True)
    held = serializers.BooleanField(
        read_only=True, help_text="An operator suspended it: no step runs until it is resumed "
        "(independent of what the workflow itself waits for).")
    held_by = serializers.SerializerMethodField(help_text="Who suspended it, while held.")
    held_at = serializers.DateTimeField(read_only=True, allow_null=True,
                                        help_text="Since when it is held.")

    class Meta:
        model = WorkflowInstance
        fields = ["id", "definition_id", "version", "status", "held", "held_by", "held_at",
                  "correlation_id", "input", "output", "variables", "incidents", "parent_id",
                  "created_at", "updated_at", "finished_at"]

    def get_held_by(self, instance) -> str | None:
        return instance.held_by or None if instance.held else None


class WaitingEventSerializer(serializers.Serializer):
    bookmark_id = serializers.UUIDField()
    activity_id = serializers.CharField()
    event = serializers.CharField()
    correlation_id = serializers.CharField(allow_null=True)


class WaitingTimerSerializer(serializers.Serializer):
    bookmark_id = serializers.UUIDField()
    activity_id = serializers.CharField()
    due_at = serializers.DateTimeField(allow_null=True)


class WaitingHttpSerializer(serializers.Serializer):
    bookmark_id = serializers.UUIDField()
    activity_id = serializers.CharField()
    path = serializers.CharField(allow_null=True)
    methods = serializers.ListField(child=serializers.CharField(), allow_null=True)


class WaitingChildSerializer(serializers.Serializer):
    bookmark_id = serializers.UUIDField()
    activity_id = serializers.CharField()
    definition_id = serializers.CharField()
    instance_id = serializers.UUIDField(allow_null=True)
    status = serializers.CharField(allow_null=True)


class WaitingTaskSerializer(serializers.Serializer):
    step_id = serializers.UUIDField()
    activity_id = serializers.CharField(allow_null=True)
    activity_type = serializers.CharField(allow_null=True)
    attempt = serializers.IntegerField()
    max_attempts = serializers.IntegerField(allow_null=True)
    status = serializers.CharField()


class WaitingRetrySerializer(WaitingTaskSerializer):
    next_try_at = serializers.DateTimeField()
    last_error = serializers.CharField(allow_null=True)


class WaitingOnSerializer(serializers.Serializer):
    events = WaitingEventSerializer(many=True, help_text="Event waits (name, correlation id).")
    timers = WaitingTimerSerializer(many=True, help_text="Timers and their due times.")
    http_requests = WaitingHttpSerializer(many=True, help_text="HttpEndpoint waits.")
    children = WaitingChildSerializer(many=True, help_text="Child workflows it waits for.")
    retries = WaitingRetrySerializer(many=True,
                                     help_text="Task activities waiting for their next attempt.")
    tasks = WaitingTaskSerializer(many=True, help_text="Task activities queued or running.")
    summary = serializers.ListField(child=serializers.CharField(),
                                    help_text="The same, one plain sentence per item.")


class InstanceDetailSerializer(InstanceSerializer):
    waiting_on = serializers.SerializerMethodField(
        help_text="What the instance waits for now (empty lists when it waits for nothing).")

    class Meta(InstanceSerializer.Meta):
        fields = [*InstanceSerializer.Meta.fields, "waiting_on"]

    @extend_schema_field(WaitingOnSerializer)
    def get_waiting_on(self, instance) -> dict:
        from workflows.selectors.waiting import instance_waiting_on

        return WaitingOnSerializer(instance_waiting_on(instance=instance).as_dict()).data


# Request bodies are named for what they carry; the schema adds the `Request` suffix
# (COMPONENT_SPLIT_REQUEST), giving `StartRequest`, `EventRequest`, `ResumeRequest`.
@extend_schema_serializer(component_name="Start")
class StartRequestSerializer(serializers.Serializer):
    input = serializers.DictField(required=False, default=dict)
    correlation_id = serializers.CharField(required=False, allow_null=True, max_length=200,
                                           default=None)


class JournalEntrySerializer(MaskedSerializer):
    masked_fields = ("message", "data")

    class Meta:
        model = JournalEntry
        fields = ["sequence", "event", "activity_id", "activity_type", "message", "data",
                  "timestamp"]


class ActivityExecutionSerializer(MaskedSerializer):
    masked_fields = ("input", "output", "error")
    type = serializers.CharField(source="activity_type")

    traceback = serializers.CharField(
        read_only=True, help_text="Python traceback of a failed user activity (last attempt).")

    class Meta:
        model = ActivityExecution
        fields = ["activity_id", "type", "status", "attempt", "input", "output", "outcome",
                  "error", "traceback", "started_at", "finished_at"]


class BookmarkSerializer(MaskedSerializer):
    masked_fields = ("data",)
    instance_id = serializers.UUIDField(read_only=True)

    class Meta:
        model = Bookmark
        fields = ["id", "instance_id", "activity_id", "activity_type", "name", "correlation_id",
                  "data", "due_at", "created_at"]


@extend_schema_serializer(component_name="Event")
class EventRequestSerializer(serializers.Serializer):
    payload = serializers.JSONField(required=False, default=None)
    correlation_id = serializers.CharField(required=False, allow_null=True, max_length=200,
                                           default=None)
    retain_seconds = serializers.IntegerField(required=False, min_value=0, max_value=86400,
                                              default=0)


class EventUnmatchedSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="`no_waiter`: nothing waits for this event name; "
                                 "`other_correlation_ids`: waits exist, for other ids.")
    message = serializers.CharField()
    waiting_with_other_correlation_ids = serializers.IntegerField(
        help_text="How many waits for this event name expect another correlation id.")
    retained_seconds = serializers.IntegerField(help_text="0 when the event was not kept.")


class EventResultSerializer(serializers.Serializer):
    resumed = serializers.ListField(child=serializers.UUIDField())
    started = serializers.ListField(child=serializers.UUIDField())
    retained = serializers.BooleanField()
    refused = serializers.ListField(child=serializers.DictField(), required=False,
                                    help_text="event-triggered starts refused (activation, input)")
    reason = EventUnmatchedSerializer(
        required=False, help_text="Only when nothing was resumed or started: why not.")


@extend_schema_serializer(component_name="Resume")
class ResumeRequestSerializer(serializers.Serializer):
    payload = serializers.JSONField(required=False, default=None)


class ActivityTypeSerializer(serializers.Serializer):
    type = serializers.CharField()
    family = serializers.CharField()
    kind = serializers.CharField()
    trigger = serializers.BooleanField()
    description = serializers.CharField(allow_blank=True)
    properties = serializers.ListField(child=serializers.DictField())
    outcomes = serializers.ListField(child=serializers.CharField())


class DispatchResultSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.CharField()
