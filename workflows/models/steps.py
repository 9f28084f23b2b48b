import uuid

from django.db import models
from django.db.models import Q

from workflows.models.instances import WorkflowInstance
from workflows.models.tenancy import Tenant
from workflows.payload_fields import OffloadedSealedJSONField
from workflows.sealed_fields import MaskedJSONField


class StepKind(models.TextChoices):
    # Stored values never change; the member names follow docs/glossary.md.
    ADVANCE = "run", "Advance the workflow"
    TASK = "task", "Execute a task activity"
    RESUME = "resume", "Resume a bookmark"
    FAIL = "fail", "Fail a waiting activity"


class StepStatus(models.TextChoices):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    CANCELLED = "cancelled"
    DEAD = "dead"


class Step(models.Model):
    """One unit of work for a worker, and the outbox entry that gets it there.

    Written in the transaction that schedules it, published to the broker after commit (the
    broker's acceptance is recorded in `sent_at`), and re-published by the sweeper while it is
    pending and due but its sending was never confirmed (the publisher died after commit, the
    broker was down), or running with an expired lease (its worker died). Claiming is a
    conditional UPDATE, so a redelivered or re-published message for a step that is done or
    running elsewhere is a no-op.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    # step_instance (instance, status) serves every look-up by instance.
    instance = models.ForeignKey(WorkflowInstance, on_delete=models.CASCADE, related_name="steps",
                                 db_index=False)
    kind = models.CharField(max_length=8, choices=StepKind.choices)
    status = models.CharField(max_length=10, choices=StepStatus.choices,
                              default=StepStatus.PENDING)
    queue = models.CharField(max_length=80, default="default")
    task_key = models.CharField(max_length=64, null=True, blank=True)
    # Secrets encrypted at rest; large values stored apart (workflows.payloads).
    payload = OffloadedSealedJSONField(default=dict, blank=True)
    attempt = models.PositiveIntegerField(default=1)
    run_after = models.DateTimeField()
    published_at = models.DateTimeField(
        null=True, blank=True, help_text="When it was last handed to the broker (NULL: not yet).")
    sent_at = models.DateTimeField(
        null=True, blank=True, help_text="When the broker accepted that message (NULL: not "
                                         "confirmed; the sweeper sends it again).")
    publish_count = models.PositiveIntegerField(default=0)
    deliveries = models.PositiveIntegerField(default=0, help_text="Times a worker claimed it.")
    claimed_by = models.CharField(max_length=200, null=True, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = MaskedJSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]
        indexes = [
            models.Index(fields=["run_after"], name="step_due",
                         condition=Q(status="pending")),
            models.Index(fields=["lease_until"], name="step_leased",
                         condition=Q(status="running")),
            models.Index(fields=["instance", "status"], name="step_instance"),
            # The sweeper's look for steps nobody confirmed sending; a deep queue of sent steps
            # stays out of this index.
            models.Index(fields=["run_after"], name="step_unsent",
                         condition=Q(status="pending", sent_at__isnull=True)),
            # Retention of finished steps (done or cancelled), oldest first.
            models.Index(fields=["finished_at"], name="step_finished",
                         condition=Q(status__in=["done", "cancelled"])),
        ]
        constraints = [
            # One step per attempt of a task: two workers that both think they own a failed
            # attempt (a lease takeover) cannot start two chains of retries.
            models.UniqueConstraint(fields=["instance", "task_key", "attempt"],
                                    condition=Q(task_key__isnull=False),
                                    name="step_task_attempt_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} step {self.id} ({self.status})"
