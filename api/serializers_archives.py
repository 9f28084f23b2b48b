"""What the API says about an archived (deleted by retention) instance."""

from rest_framework import serializers


class ArchiveLocationSerializer(serializers.Serializer):
    bucket = serializers.CharField()
    key = serializers.CharField()
    archived_at = serializers.DateTimeField()
    size = serializers.IntegerField(help_text="Bytes of the gzip JSON Lines object.")
    sha256 = serializers.CharField(help_text="Checksum of the gzip JSON Lines object.")


class ArchivedInstanceSerializer(serializers.Serializer):
    """An instance that retention archived and deleted: what is left of it in the database."""

    id = serializers.UUIDField(source="instance_id")
    archived = serializers.SerializerMethodField()
    definition_id = serializers.CharField()
    version = serializers.IntegerField()
    status = serializers.CharField()
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    archive = serializers.SerializerMethodField()

    def get_archived(self, record) -> bool:
        return True

    def get_archive(self, record) -> dict:
        return ArchiveLocationSerializer(record).data


class ArchiveContentSerializer(serializers.Serializer):
    """An archived instance read back from the archive: the rows as they were when archived."""

    archive = ArchiveLocationSerializer()
    instance = serializers.DictField()
    journal = serializers.ListField(child=serializers.DictField())
    activity_executions = serializers.ListField(child=serializers.DictField())
    incidents = serializers.ListField(child=serializers.DictField())
