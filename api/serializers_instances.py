"""Shapes of instances and what hangs off them (SPEC section 2)."""

from rest_framework import serializers

from workflows.models import ActivityExecution, Bookmark, Incident, JournalEntry, WorkflowInstance


class IncidentSerializer(serializers.ModelSerializer):
    class Meta:
        model = Incident
        fields = ["activity_id", "activity_type", "code", "message", "data", "created_at"]


class InstanceSerializer(serializers.ModelSerializer):
    incidents = IncidentSerializer(many=True, read_only=True)
    parent_id = serializers.UUIDField(read_only=True, allow_null=True)
    held = serializers.BooleanField(
        read_only=True,
        help_text="An operator suspended it: nothing runs until `resume/`. (A `suspended` "
                  "instance that is not held is waiting on its bookmarks.)")

    class Meta:
        model = WorkflowInstance
        fields = ["id", "definition_id", "version", "status", "correlation_id", "input", "output",
                  "variables", "incidents", "parent_id", "held", "created_at", "updated_at",
                  "finished_at"]


class StartRequestSerializer(serializers.Serializer):
    input = serializers.DictField(required=False, default=dict)
    correlation_id = serializers.CharField(required=False, allow_null=True, max_length=200,
                                           default=None)


class JournalEntrySerializer(serializers.ModelSerializer):
    class Meta:
        model = JournalEntry
        fields = ["sequence", "event", "activity_id", "activity_type", "message", "data",
                  "timestamp"]


class ActivityExecutionSerializer(serializers.ModelSerializer):
    type = serializers.CharField(source="activity_type")

    class Meta:
        model = ActivityExecution
        fields = ["activity_id", "type", "status", "attempt", "input", "output", "outcome",
                  "error", "started_at", "finished_at"]


class BookmarkSerializer(serializers.ModelSerializer):
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
