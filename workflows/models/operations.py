"""What operators watch: worker processes (SQS has no remote control) and dead letters."""

import uuid

from django.db import models

from workflows.models.steps import Step


class WorkerState(models.TextChoices):
    ONLINE = "online"
    STOPPING = "stopping"
    STOPPED = "stopped"
    LOST = "lost"


class WorkerProcess(models.Model):
    name = models.CharField(max_length=200, help_text="celery hostname@pid")
    # Who claims steps: a random id the worker process registers at start (a hostname and a
    # pid are no identity: containers may share both). Its pool children claim under it.
    registration_id = models.CharField(max_length=64, unique=True, null=True, blank=True)
    pool_pids = models.JSONField(default=list, blank=True,
                                 help_text="the pids of the processes that run its steps")
    hostname = models.CharField(max_length=200)
    pid = models.PositiveIntegerField()
    queues = models.JSONField(default=list, blank=True)
    started_at = models.DateTimeField()
    last_heartbeat = models.DateTimeField()
    steps_in_flight = models.PositiveIntegerField(default=0)
    state = models.CharField(max_length=10, choices=WorkerState.choices,
                             default=WorkerState.ONLINE)

    class Meta:
        ordering = ["-last_heartbeat"]
        verbose_name_plural = "worker processes"
        indexes = [models.Index(fields=["state", "last_heartbeat"], name="worker_state"),
                   models.Index(fields=["name"], name="worker_name")]

    def __str__(self) -> str:
        return f"{self.name} ({self.state})"


class DeadLetter(models.Model):
    """A broker message that reached a dead-letter queue, kept for operators to inspect and
    re-drive."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey("workflows.Tenant", null=True, blank=True,
                               on_delete=models.CASCADE, related_name="+",
                               db_index=False)  # deadletter_recent leads with it
    step = models.ForeignKey(Step, null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="dead_letters")
    instance = models.ForeignKey("workflows.WorkflowInstance", null=True, blank=True,
                                 on_delete=models.SET_NULL, related_name="dead_letters")
    queue = models.CharField(max_length=200)
    message_id = models.CharField(max_length=200, unique=True)
    task_name = models.CharField(max_length=200, blank=True, default="")
    body = models.JSONField(default=dict, blank=True)
    receive_count = models.PositiveIntegerField(default=0)
    received_at = models.DateTimeField()
    redriven_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at"]
        indexes = [models.Index(fields=["tenant", "-received_at"], name="deadletter_recent")]

    def __str__(self) -> str:
        return f"{self.task_name} {self.message_id}"
