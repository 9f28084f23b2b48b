"""Worker liveness from our own heartbeats (SQS offers no Celery remote control or events)."""

from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from workflows.models import Step, StepStatus, WorkerProcess, WorkerState


def worker_heartbeat(*, name: str, hostname: str, pid: int, queues: list[str],
                     started_at: datetime, state: str = WorkerState.ONLINE) -> WorkerProcess:
    in_flight = Step.objects.filter(status=StepStatus.RUNNING,
                                    claimed_by__startswith=f"{name}|").count()
    worker, _ = WorkerProcess.objects.update_or_create(
        name=name,
        defaults={"hostname": hostname, "pid": pid, "queues": queues, "started_at": started_at,
                  "last_heartbeat": timezone.now(), "steps_in_flight": in_flight,
                  "state": state},
    )
    return worker


def workers_mark_lost() -> int:
    """Workers whose heartbeat stopped without a goodbye are lost."""
    cutoff = timezone.now() - timedelta(seconds=settings.WEFT_WORKER_LOST_AFTER)
    return WorkerProcess.objects.filter(
        state__in=[WorkerState.ONLINE, WorkerState.STOPPING], last_heartbeat__lt=cutoff
    ).update(state=WorkerState.LOST)
