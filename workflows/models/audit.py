"""The audit log: who changed what, append-only. Rows are written by `services.audit` and never
updated; only the retention purge deletes them."""

from django.conf import settings
from django.db import models


class AuditEntry(models.Model):
    # A growing integer key: the keyset (cursor) of `GET audit/` and a stable total order even
    # when two entries share a timestamp.
    id = models.BigAutoField(primary_key=True)
    at = models.DateTimeField()
    # SET_NULL everywhere: an entry outlives the tenant, user or token it names, which is why
    # the names are copied into text columns too.
    tenant = models.ForeignKey("workflows.Tenant", null=True, blank=True,
                               on_delete=models.SET_NULL, related_name="+",
                               db_index=False)  # the audit_tenant_* indexes lead with it
    tenant_slug = models.CharField(max_length=63, blank=True, default="")
    actor = models.CharField(max_length=200, help_text="who acted: a username or token:<name>")
    actor_user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    actor_token = models.ForeignKey("workflows.ApiToken", null=True, blank=True,
                                    on_delete=models.SET_NULL, related_name="+")
    action = models.CharField(max_length=64, help_text="e.g. definition.publish")
    target_type = models.CharField(max_length=64)
    target_id = models.CharField(max_length=200, blank=True, default="")
    summary = models.CharField(max_length=500, blank=True, default="")
    details = models.JSONField(default=dict, blank=True)
    request_id = models.CharField(max_length=64, blank=True, default="")
    client_address = models.CharField(max_length=100, blank=True, default="")
    via = models.CharField(max_length=16, help_text="api, admin or cli")

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "audit entries"
        indexes = [
            models.Index(fields=["tenant", "-id"], name="audit_tenant_recent"),
            models.Index(fields=["tenant", "action", "-id"], name="audit_tenant_action"),
            models.Index(fields=["tenant", "actor", "-id"], name="audit_tenant_actor"),
            models.Index(fields=["tenant", "target_type", "target_id", "-id"],
                         name="audit_tenant_target"),
            models.Index(fields=["tenant", "at"], name="audit_tenant_at"),
            # The retention purge deletes by age across tenants.
            models.Index(fields=["at"], name="audit_at"),
        ]

    def __str__(self) -> str:
        return f"{self.actor} {self.action} {self.target_type} {self.target_id}".strip()
