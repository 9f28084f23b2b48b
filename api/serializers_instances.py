"""Shapes of instances and what hangs off them (SPEC section 2)."""

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

    class Meta:
        model = WorkflowInstance
        fields = ["id", "definition_id", "version", "status", "correlation_id", "input", "output",
                  "variables", "incidents", "parent_id", "created_at", "updated_at",
                  "finished_at"]


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

    class Meta:
        model = ActivityExecution
        fields = ["activity_id", "type", "status", "attempt", "input", "output", "outcome",
                  "error", "started_at", "finished_at"]


class BookmarkSerializer(MaskedSerializer):
    masked_fields = ("data",)
    instance_id = serializers.UUIDField(read_only=True)

    class Meta:
        model = Bookmark
        fields = ["id", "instance_id", "activity_id", "activity_type", "name", "correlation_id",
                  "data", "due_at", "created_at"]


class EventRequestSerializer(serializers.Serializer):
    payload = serializers.JSONField(required=False, default=None)
    correlation_id = serializers.CharField(required=False, allow_null=True, max_length=200,
                                           default=None)
    retain_seconds = serializers.IntegerField(required=False, min_value=0, max_value=86400,
                                              default=0)


class EventResultSerializer(serializers.Serializer):
    resumed = serializers.ListField(child=serializers.UUIDField())
    started = serializers.ListField(child=serializers.UUIDField())
    retained = serializers.BooleanField()
    refused = serializers.ListField(child=serializers.DictField(), required=False,
                                    help_text="event-triggered starts refused (activation, input)")


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
