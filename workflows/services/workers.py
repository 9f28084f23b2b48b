"""Worker liveness from our own heartbeats (SQS offers no Celery remote control or events), and
who may hold a step: claimers are identified by the registration each worker process makes
with its heartbeat (`workflows.process_identity`), never by a hostname and a pid."""

import os
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from workflows.models import Step, StepStatus, WorkerProcess, WorkerState
from workflows.process_identity import process_token, worker_registration

_REGISTERED = "w:"


def claimer_for(worker: str) -> str:
    """The `claimed_by` of a step this process claims: `<worker name>|w:<registration>|<pid>`
    for a registered worker process (or a pool child of one), `<name>|p:<token>|<pid>` for
    anything else."""
    registration = worker_registration()
    who = f"{_REGISTERED}{registration}" if registration else f"p:{process_token()}"
    return f"{worker}|{who}|{os.getpid()}"


def claimer_is_dead(*, claimed_by: str, lease_until: datetime | None) -> bool:
    """Whether the registry says a step's claimer is gone, so its lease need not be waited out:
    its worker's registration is gone, stopped, lost or silent for WEFT_WORKER_LOST_AFTER, or
    its worker reported (after the claim was last renewed) that the claiming pool child is no
    longer among its processes (a child killed mid-step). A claimer the registry does not know
    (not a registered worker) is never declared dead: its lease runs out."""
    parts = claimed_by.split("|")
    if len(parts) != 3 or not parts[1].startswith(_REGISTERED) or not parts[2].isdigit():
        return False
    worker = WorkerProcess.objects.filter(registration_id=parts[1][len(_REGISTERED):]).only(
        "state", "last_heartbeat", "pool_pids").first()
    if worker is None:
        return True
    now = timezone.now()
    if worker.state in (WorkerState.STOPPED, WorkerState.LOST) or \
            worker.last_heartbeat < now - timedelta(seconds=settings.WEFT_WORKER_LOST_AFTER):
        return True
    if lease_until is None:
        return False
    last_renewed = lease_until - timedelta(seconds=settings.WEFT_STEP_LEASE_SECONDS)
    return worker.last_heartbeat > last_renewed and int(parts[2]) not in worker.pool_pids


def worker_heartbeat(*, name: str, hostname: str, pid: int, queues: list[str],
                     started_at: datetime, state: str = WorkerState.ONLINE,
                     registration_id: str | None = None,
                     pool_pids: list[int] | None = None) -> WorkerProcess:
    """Register or report a worker process: by its registration id when it has one (names
    repeat across containers), else by name."""
    running = Step.objects.filter(status=StepStatus.RUNNING)
    if registration_id:
        in_flight = running.filter(claimed_by__contains=f"|{_REGISTERED}{registration_id}|")
        key = {"registration_id": registration_id}
    else:
        in_flight = running.filter(claimed_by__startswith=f"{name}|")
        key = {"name": name}
    defaults = {"name": name, "hostname": hostname, "pid": pid, "queues": queues,
                "started_at": started_at, "last_heartbeat": timezone.now(),
                "steps_in_flight": in_flight.count(), "state": state,
                "pool_pids": sorted(set(pool_pids or [pid]))}
    worker, _ = WorkerProcess.objects.update_or_create(**key, defaults=defaults)
    return worker


def workers_mark_lost() -> int:
    """Workers whose heartbeat stopped without a goodbye are lost."""
    cutoff = timezone.now() - timedelta(seconds=settings.WEFT_WORKER_LOST_AFTER)
    return WorkerProcess.objects.filter(
        state__in=[WorkerState.ONLINE, WorkerState.STOPPING], last_heartbeat__lt=cutoff
    ).update(state=WorkerState.LOST)
