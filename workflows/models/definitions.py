from django.conf import settings
from django.db import models
from django.db.models import Q

from workflows.models.tenancy import Tenant


class WorkflowDefinition(models.Model):
    """One version of a workflow definition. All versions of one definition share
    `definition_id`; exactly one is the latest and at most one is published, both enforced by
    partial unique indexes so that concurrent writers cannot break the rule."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="definitions")
    definition_id = models.CharField(max_length=100)
    version = models.PositiveIntegerField()
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, default="")
    body = models.JSONField(help_text="The definition document (SPEC section 1).")
    is_latest = models.BooleanField(default=True)
    is_published = models.BooleanField(default=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    published_at = models.DateTimeField(null=True, blank=True)
    # Set when the definition was deleted: its versions are out of sight (renamed, neither
    # latest nor published) while housekeeping archives and deletes their instances in
    # batches, then the versions themselves.
    deleting_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["definition_id", "-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "definition_id", "version"], name="definition_unique_version"
            ),
            models.UniqueConstraint(
                fields=["tenant", "definition_id"],
                condition=Q(is_published=True),
                name="definition_one_published",
            ),
            models.UniqueConstraint(
                fields=["tenant", "definition_id"],
                condition=Q(is_latest=True),
                name="definition_one_latest",
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "is_latest", "definition_id"], name="definition_latest"),
            models.Index(
                fields=["tenant", "is_published", "definition_id"], name="definition_published"
            ),
            models.Index(fields=["deleting_at"], name="definition_deleting",
                         condition=Q(deleting_at__isnull=False)),
        ]

    def __str__(self) -> str:
        return f"{self.definition_id} v{self.version}"
