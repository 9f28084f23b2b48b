"""What starts workflows from outside, and what keeps each start exactly-once."""

from django.db import models

from workflows.models.definitions import WorkflowDefinition
from workflows.models.instances import WorkflowInstance
from workflows.models.tenancy import Tenant
from workflows.payload_fields import OffloadedSealedJSONField


class TriggerType(models.TextChoices):
    EVENT = "Event"
    HTTP = "HttpEndpoint"
    CRON = "Cron"
    TIMER = "Timer"
    START_AT = "StartAt"


class WorkflowTrigger(models.Model):
    """A published definition's trigger activity, indexed on publish, removed on retract or
    delete. Cron, Timer and StartAt triggers own a django-celery-beat periodic task."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="triggers")
    definition_version = models.ForeignKey(WorkflowDefinition, on_delete=models.CASCADE,
                                           related_name="triggers")
    definition_id = models.CharField(max_length=100)
    activity_id = models.CharField(max_length=100)
    type = models.CharField(max_length=16, choices=TriggerType.choices)
    # The index: an event name, an HTTP route, or nothing for time triggers.
    key = models.CharField(max_length=300, blank=True, default="")
    properties = models.JSONField(default=dict, blank=True)
    periodic_task = models.OneToOneField("django_celery_beat.PeriodicTask", null=True,
                                         blank=True, on_delete=models.SET_NULL,
                                         related_name="weft_trigger")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["definition_id", "activity_id"]
        indexes = [models.Index(fields=["tenant", "type", "key"], name="trigger_lookup")]
        constraints = [
            models.UniqueConstraint(fields=["definition_version", "activity_id"],
                                    name="trigger_unique_activity"),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.key or ''} → {self.definition_id}"


class TriggerFire(models.Model):
    """One fire of a time trigger for one scheduled time: the unique key makes a second fire of
    the same slot (two beat leaders, a redelivered message) a no-op."""

    # fire_once (trigger, scheduled_for) serves every look-up by trigger.
    trigger = models.ForeignKey(WorkflowTrigger, on_delete=models.CASCADE, related_name="fires",
                                db_index=False)
    scheduled_for = models.DateTimeField()
    instance = models.ForeignKey(WorkflowInstance, null=True, blank=True,
                                 on_delete=models.SET_NULL, related_name="+")
    outcome = models.CharField(max_length=32, default="started")
    fired_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-scheduled_for"]
        constraints = [
            models.UniqueConstraint(fields=["trigger", "scheduled_for"], name="fire_once"),
        ]
        indexes = [models.Index(fields=["fired_at"], name="fire_age")]

    def __str__(self) -> str:
        return f"{self.trigger_id} @ {self.scheduled_for:%Y-%m-%d %H:%M:%S}"


class RetainedEvent(models.Model):
    """An event nothing waited for yet, kept for `retain_seconds` for the first matching wait."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+",
                               db_index=False)  # retained_lookup leads with it
    name = models.CharField(max_length=300)
    correlation_id = models.CharField(max_length=200, null=True, blank=True)
    # Secrets encrypted at rest; large values stored apart (workflows.payloads).
    payload = OffloadedSealedJSONField(null=True, blank=True)
    expires_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]
        indexes = [models.Index(fields=["tenant", "name", "expires_at"], name="retained_lookup"),
                   # The purge reads expired events of every tenant.
                   models.Index(fields=["expires_at"], name="retained_expiry")]

    def __str__(self) -> str:
        return f"{self.name} ({self.correlation_id or '-'})"


class ApiToken(models.Model):
    """A tenant's token for HTTP endpoints that ask for authorisation (stored hashed)."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["tenant", "name"]
        constraints = [models.UniqueConstraint(fields=["tenant", "name"], name="token_name")]

    def __str__(self) -> str:
        return f"{self.tenant}:{self.name}"
