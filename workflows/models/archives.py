from django.db import models

from workflows.models.tenancy import Tenant


class InstanceArchive(models.Model):
    """Where a deleted instance's archive is: it outlives the instance (no foreign key to it), so
    the API can still say that the instance existed, and where to read it."""

    instance_id = models.UUIDField(primary_key=True)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+",
                               db_index=False)  # archive_definition leads with it
    definition_id = models.CharField(max_length=100)
    version = models.PositiveIntegerField()
    status = models.CharField(max_length=16)
    created_at = models.DateTimeField(help_text="When the instance was created.")
    finished_at = models.DateTimeField(null=True, blank=True)
    bucket = models.CharField(max_length=255)
    key = models.CharField(max_length=1024)
    size = models.PositiveBigIntegerField(help_text="Bytes of the gzip object.")
    sha256 = models.CharField(max_length=64, help_text="Of the gzip object.")
    archived_at = models.DateTimeField()

    class Meta:
        ordering = ["-archived_at"]
        indexes = [models.Index(fields=["tenant", "definition_id", "-archived_at"],
                                name="archive_definition")]

    def __str__(self) -> str:
        return f"{self.instance_id} → s3://{self.bucket}/{self.key}"
