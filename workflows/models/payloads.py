from django.db import models
from django.db.models import Q

from workflows.models.instances import WorkflowInstance
from workflows.models.tenancy import Tenant


class PayloadObject(models.Model):
    """A large value stored once per tenant and content (`workflows.payloads`): gzip JSON in
    S3 (`key`) or, without a bucket, in `data`. Rows reference it as
    `{"$weft.payload": {"tenant", "sha256", "size"}}`; `PayloadLink` says which instances do."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    sha256 = models.CharField(max_length=64, help_text="Of the value's compact JSON.")
    size = models.PositiveBigIntegerField(help_text="Bytes of the value's compact JSON.")
    stored_size = models.PositiveBigIntegerField(null=True, blank=True,
                                                 help_text="Bytes of the gzip object.")
    store = models.CharField(max_length=8, help_text="s3 or db")
    key = models.CharField(max_length=1024, blank=True, default="")
    data = models.BinaryField(null=True, blank=True, help_text="The gzip, when store is db.")
    stored = models.BooleanField(default=False, help_text="The content is in the store.")
    created_at = models.DateTimeField()
    last_used_at = models.DateTimeField(help_text="Last written by a row.")
    # When to look whether anything still refers to it: set when it is created and when links
    # to it go (an instance deleted); the sweep clears it, or deletes the object.
    check_after = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "sha256"],
                                               name="payload_unique_content")]
        indexes = [models.Index(fields=["check_after"], name="payload_check",
                                condition=Q(check_after__isnull=False))]

    def __str__(self) -> str:
        return f"{self.sha256[:12]} ({self.size} bytes, {self.store})"


class PayloadLink(models.Model):
    """Instance `instance` holds (or held) a reference to `object`. Goes with the instance;
    no database constraint, so that a link can be written before its new instance's row in
    the same statement order the ORM chooses."""

    # Looked up by object through the unique constraint's index (its leading column).
    object = models.ForeignKey(PayloadObject, on_delete=models.CASCADE, related_name="links",
                               db_index=False)
    instance = models.ForeignKey(WorkflowInstance, on_delete=models.CASCADE, related_name="+",
                                 db_constraint=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["object", "instance"],
                                               name="payload_link_unique")]

    def __str__(self) -> str:
        return f"{self.instance_id} → {self.object_id}"
