import uuid

from django.db import models
from django.db.models import Q

from workflows.models.definitions import WorkflowDefinition
from workflows.models.tenancy import Tenant
from workflows.payload_fields import OffloadedMaskedJSONField, OffloadedSealedJSONField
from workflows.sealed_fields import MaskedJSONField, MaskedTextField, SealedJSONField


class InstanceStatus(models.TextChoices):
    PENDING = "pending"
    RUNNING = "running"
    SUSPENDED = "suspended"
    FINISHED = "finished"
    CANCELLED = "cancelled"
    FAULTED = "faulted"

    @classmethod
    def active(cls) -> tuple[str, ...]:
        return (cls.PENDING, cls.RUNNING, cls.SUSPENDED)


class WorkflowInstance(models.Model):
    """One run of one published definition version (pinned: later publishes do not move it)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # No index of its own on tenant, parent (or instance, below): the composite and partial
    # indexes in Meta lead with them (docs/decisions.md, "Indexes and keyset lists").
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="instances",
                               db_index=False)
    definition_version = models.ForeignKey(
        WorkflowDefinition, on_delete=models.CASCADE, related_name="instances",
        help_text="The pinned definition version this instance runs.",
    )
    definition_id = models.CharField(max_length=100)
    version = models.PositiveIntegerField()
    status = models.CharField(max_length=16, choices=InstanceStatus.choices,
                              default=InstanceStatus.PENDING)
    correlation_id = models.CharField(max_length=200, null=True, blank=True)
    # Secrets: see workflows.sealed_fields (sealed when read back, masked when only shown).
    # Large values are stored apart (workflows.payloads) and read back transparently.
    input = OffloadedMaskedJSONField(default=dict, blank=True)
    output = OffloadedSealedJSONField(default=dict, blank=True)
    variables = OffloadedSealedJSONField(default=dict, blank=True)
    state = OffloadedSealedJSONField(default=dict, blank=True, help_text="The engine's state.")
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL,
                               related_name="children", db_index=False)
    parent_bookmark_key = models.CharField(
        max_length=64, null=True, blank=True,
        help_text="The parent's bookmark that waits for this child to finish.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # An operator's suspend: no new steps run until resumed (the status shows "suspended").
    held = models.BooleanField(default=False)
    held_by = models.CharField(max_length=200, blank=True, default="",
                               help_text="Who suspended it: a user name, with \"(admin)\" "
                                         "when done in the admin.")
    held_at = models.DateTimeField(null=True, blank=True)
    # What WriteHttpResponse answered, for the HTTP request that started or resumed it.
    http_response = SealedJSONField(null=True, blank=True)
    # W3C trace context (traceparent) its steps' spans join when traces are on (workflows.tracing).
    trace_context = models.JSONField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["tenant", "-created_at"], name="instance_recent"),
            # Every tenant's instances, newest first: the admin's list for a superuser.
            models.Index(fields=["-created_at"], name="instance_created"),
            models.Index(fields=["tenant", "status", "-created_at"], name="instance_status"),
            # A definition's instances, newest first (the list filtered by definition), and
            # with a status (that filter too; a singleton's look for an active one).
            models.Index(fields=["tenant", "definition_id", "-created_at"],
                         name="instance_definition_recent"),
            models.Index(fields=["tenant", "definition_id", "status", "-created_at"],
                         name="instance_definition_status"),
            models.Index(fields=["tenant", "correlation_id", "status"],
                         name="instance_correlation"),
            models.Index(fields=["parent"], name="instance_parent",
                         condition=Q(parent__isnull=False)),
            # Retention's scan: terminal instances of a tenant by status, oldest end first.
            models.Index(fields=["tenant", "status", "finished_at"], name="instance_expiry",
                         condition=Q(finished_at__isnull=False)),
        ]

    def __str__(self) -> str:
        return f"{self.definition_id} v{self.version} {self.id} ({self.status})"


class ActivityExecution(models.Model):
    instance = models.ForeignKey(WorkflowInstance, on_delete=models.CASCADE,
                                 related_name="activity_executions", db_index=False)
    key = models.CharField(max_length=64, help_text="The engine's id for this execution.")
    activity_id = models.CharField(max_length=100)
    activity_type = models.CharField(max_length=100)
    status = models.CharField(max_length=16)
    attempt = models.PositiveIntegerField(default=1)
    input = OffloadedMaskedJSONField(null=True, blank=True)
    output = OffloadedMaskedJSONField(null=True, blank=True)
    outcome = models.CharField(max_length=100, null=True, blank=True)
    error = MaskedJSONField(null=True, blank=True)
    # The Python traceback of a failed user activity (the last attempt), for operators.
    traceback = MaskedTextField(blank=True, default="")
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["instance", "id"]
        constraints = [
            models.UniqueConstraint(fields=["instance", "key"], name="execution_unique_key"),
        ]
        # An instance's executions in id order (its keyset list); replaces the plain index on
        # instance, which this one and execution_unique_key both lead with.
        indexes = [models.Index(fields=["instance", "id"], name="execution_instance")]

    def __str__(self) -> str:
        return f"{self.activity_id} ({self.activity_type}) {self.status}"


class JournalEntry(models.Model):
    # journal_unique_seq (instance, sequence) serves every look-up by instance.
    instance = models.ForeignKey(WorkflowInstance, on_delete=models.CASCADE,
                                 related_name="journal", db_index=False)
    sequence = models.PositiveIntegerField()
    event = models.CharField(max_length=32)
    activity_id = models.CharField(max_length=100, blank=True, default="")
    activity_type = models.CharField(max_length=100, blank=True, default="")
    message = MaskedTextField(blank=True, default="")
    data = OffloadedMaskedJSONField(null=True, blank=True)
    timestamp = models.DateTimeField()

    class Meta:
        ordering = ["instance", "sequence"]
        verbose_name_plural = "journal entries"
        constraints = [
            models.UniqueConstraint(fields=["instance", "sequence"], name="journal_unique_seq"),
        ]

    def __str__(self) -> str:
        return f"#{self.sequence} {self.event} {self.activity_id}"


class Bookmark(models.Model):
    """What a suspended activity waits for. Claimed (deleted) in the transaction that resumes
    it, so a duplicate stimulus finds nothing to resume."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # Looked up by (tenant, hash), (tenant, name) and (instance, key): no single-column index.
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="bookmarks",
                               db_index=False)
    instance = models.ForeignKey(WorkflowInstance, on_delete=models.CASCADE,
                                 related_name="bookmarks", db_index=False)
    key = models.CharField(max_length=64, help_text="The engine's id for this bookmark.")
    activity_id = models.CharField(max_length=100)
    activity_type = models.CharField(max_length=100)
    name = models.CharField(max_length=300)
    hash = models.CharField(max_length=64, help_text="sha256 of name and correlation id.")
    correlation_id = models.CharField(max_length=200, null=True, blank=True)
    data = SealedJSONField(default=dict, blank=True)
    due_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.UniqueConstraint(fields=["instance", "key"], name="bookmark_unique_key"),
        ]
        indexes = [
            models.Index(fields=["tenant", "hash"], name="bookmark_stimulus"),
            models.Index(fields=["tenant", "name"], name="bookmark_name"),
            # The routes HTTP waits listen on (a hook request reads the distinct ones).
            models.Index(fields=["tenant", "name"], name="bookmark_http_route",
                         condition=Q(data__kind="http")),
            models.Index(fields=["due_at"], name="bookmark_due", condition=Q(due_at__isnull=False)),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.activity_id})"


class Incident(models.Model):
    instance = models.ForeignKey(WorkflowInstance, on_delete=models.CASCADE,
                                 related_name="incidents")
    activity_id = models.CharField(max_length=100, blank=True, default="")
    activity_type = models.CharField(max_length=100, blank=True, default="")
    code = models.CharField(max_length=64)
    message = MaskedTextField()
    data = MaskedJSONField(default=dict, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["instance", "created_at", "id"]

    def __str__(self) -> str:
        return f"{self.code}: {self.message[:80]}"
