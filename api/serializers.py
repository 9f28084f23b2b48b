"""Shapes of requests and responses. Definition bodies are validated by the engine's validator
(which reports JSON paths); these serializers describe them for the OpenAPI schema."""

from rest_framework import serializers

from workflows.models import WorkflowDefinition

DOCUMENT_FIELDS = ("inputs", "outputs", "variables", "options", "root")


class DeclarationSerializer(serializers.Serializer):
    name = serializers.CharField()
    type = serializers.ChoiceField(
        choices=["string", "number", "integer", "boolean", "object", "array", "any"]
    )
    required = serializers.BooleanField(required=False)
    default = serializers.JSONField(required=False)


class DefinitionDocumentSerializer(serializers.Serializer):
    """A workflow definition document (SPEC section 1)."""

    definition_id = serializers.CharField(required=False, help_text="Slug; derived from name.")
    name = serializers.CharField()
    description = serializers.CharField(required=False, allow_blank=True)
    inputs = DeclarationSerializer(many=True, required=False)
    outputs = DeclarationSerializer(many=True, required=False)
    variables = DeclarationSerializer(many=True, required=False)
    options = serializers.JSONField(required=False)
    root = serializers.JSONField(help_text="The root activity (usually a Flowchart).")


class DefinitionSummarySerializer(serializers.ModelSerializer):
    published_version = serializers.IntegerField(read_only=True, allow_null=True)
    created_by = serializers.SerializerMethodField()

    class Meta:
        model = WorkflowDefinition
        fields = ["definition_id", "name", "description", "version", "is_latest", "is_published",
                  "published_version", "created_by", "created_at", "updated_at", "published_at"]

    def get_created_by(self, obj: WorkflowDefinition) -> str | None:
        return obj.created_by.get_username() if obj.created_by_id else None


class DefinitionSerializer(DefinitionSummarySerializer):
    """A definition version: its metadata and the whole document."""

    inputs = serializers.JSONField(read_only=True)
    outputs = serializers.JSONField(read_only=True)
    variables = serializers.JSONField(read_only=True)
    options = serializers.JSONField(read_only=True)
    root = serializers.JSONField(read_only=True)

    class Meta(DefinitionSummarySerializer.Meta):
        fields = [*DefinitionSummarySerializer.Meta.fields, *DOCUMENT_FIELDS]

    def to_representation(self, instance: WorkflowDefinition) -> dict:
        body = instance.body or {}
        for field in DOCUMENT_FIELDS:
            setattr(instance, field, body.get(field, {} if field in ("options", "root") else []))
        if not hasattr(instance, "published_version"):
            instance.published_version = None
        return super().to_representation(instance)


class ValidationProblemSerializer(serializers.Serializer):
    path = serializers.CharField()
    message = serializers.CharField()


class ValidationResultSerializer(serializers.Serializer):
    valid = serializers.BooleanField()
    errors = ValidationProblemSerializer(many=True)


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    details = serializers.JSONField()


class ErrorSerializer(serializers.Serializer):
    error = ErrorDetailSerializer()
