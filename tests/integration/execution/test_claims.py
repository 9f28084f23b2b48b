"""Who holds a running step (issue 8, hole 11): claimers are identified by the registration
each worker process makes with its heartbeat, never by a hostname and a pid (containers share
both), and only the claimer renews its own lease."""

import socket
import subprocess
import sys
import uuid
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from tests.integration.execution.test_steps import fork_of_tasks
from workflows.models import Step, StepStatus, WorkerProcess
from workflows.services.instances import instance_dispatch
from workflows.services.runner import step_process, step_renew_lease
from workflows.services.workers import worker_heartbeat

pytestmark = pytest.mark.django_db

HOST = socket.gethostname()


def pid_not_here() -> int:
    """A pid that exists in no process of this namespace (one that just ended): how a live
    worker's pid looks from a container beside it."""
    return int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True, check=True).stdout)


def register(name: str, pid: int, **extra) -> str:
    """A worker process on this very hostname registers as a real one does."""
    registration = uuid.uuid4().hex
    worker_heartbeat(name=name, hostname=HOST, pid=pid, queues=["workflow-tasks"],
                     started_at=timezone.now(), registration_id=registration,
                     pool_pids=[pid], **extra)
    return registration


@pytest.fixture
def running_step(tenant, publish):
    """`running_step(claimed_by)`: a step claimed by someone else under a live lease."""
    publish(fork_of_tasks())

    def make(claimed_by: str) -> Step:
        instance = instance_dispatch(tenant=tenant, definition_id="fan-out")
        step = Step.objects.get(instance=instance)
        Step.objects.filter(pk=step.pk).update(
            status=StepStatus.RUNNING, claimed_by=claimed_by, deliveries=1,
            lease_until=timezone.now() + timedelta(seconds=settings.WEFT_STEP_LEASE_SECONDS))
        return step

    return make


def test_a_live_worker_on_the_same_hostname_keeps_its_step_though_its_pid_is_unknown_here(
        running_step):
    pid = pid_not_here()
    registration = register("celery@shared", pid)
    step = running_step(f"celery@shared|w:{registration}|{pid}")
    # Another worker with the same name and hostname, in another pid namespace.
    assert step_process(step_id=step.id, worker="celery@shared") == "skipped"
    step.refresh_from_db()
    assert step.status == "running" and step.claimed_by.endswith(f"|w:{registration}|{pid}")
    assert step.deliveries == 1


def test_a_legacy_hostname_and_pid_claim_is_never_judged_by_the_pid(running_step):
    step = running_step(f"celery@old|{HOST}|{pid_not_here()}")
    assert step_process(step_id=step.id, worker="celery@b") == "skipped"


@pytest.mark.parametrize("end", ["stopped", "lost", "silent", "gone"])
def test_a_step_whose_worker_registration_ended_is_claimed_again_at_once(running_step, end):
    pid = pid_not_here()
    registration = register("celery@a", pid)
    worker = WorkerProcess.objects.filter(registration_id=registration)
    if end in ("stopped", "lost"):
        worker.update(state=end)
    elif end == "silent":
        worker.update(last_heartbeat=timezone.now() - timedelta(
            seconds=settings.WEFT_WORKER_LOST_AFTER + 1))
    else:
        worker.delete()
    step = running_step(f"celery@a|w:{registration}|{pid}")
    assert step_process(step_id=step.id, worker="celery@b") == "done"
    assert Step.objects.get(pk=step.pk).deliveries == 2


def test_a_step_of_a_pool_child_that_died_is_claimed_once_its_worker_reported_it(running_step):
    child = pid_not_here()
    registration = register("celery@a", 4242)
    step = running_step(f"celery@a|w:{registration}|{child}")
    # The worker's last report predates the claim: the child may be new, so wait.
    WorkerProcess.objects.filter(registration_id=registration).update(
        last_heartbeat=timezone.now() - timedelta(seconds=1), pool_pids=[4242])
    assert step_process(step_id=step.id, worker="celery@b") == "skipped"
    # A report after the claim that no longer lists the child: it died mid-step.
    WorkerProcess.objects.filter(registration_id=registration).update(
        last_heartbeat=timezone.now())
    assert step_process(step_id=step.id, worker="celery@b") == "done"


def test_only_the_claimer_renews_a_lease(running_step):
    pid = pid_not_here()
    registration = register("celery@a", pid)
    owner = f"celery@a|w:{registration}|{pid}"
    step = running_step(owner)
    soon = timezone.now() + timedelta(seconds=1)
    Step.objects.filter(pk=step.pk).update(lease_until=soon)
    assert step_renew_lease(step_id=step.id, claimer=f"celery@a|w:{uuid.uuid4().hex}|{pid}") \
        is None
    assert Step.objects.get(pk=step.pk).lease_until == soon
    assert step_renew_lease(step_id=step.id, claimer=owner) is not None
    assert Step.objects.get(pk=step.pk).lease_until > soon + timedelta(seconds=10)


def test_workers_sharing_a_name_register_and_count_their_steps_apart(running_step):
    first, second = register("celery@same", 7), register("celery@same", 7)
    running_step(f"celery@same|w:{first}|7")
    beat = worker_heartbeat(name="celery@same", hostname=HOST, pid=7, queues=[],
                            started_at=timezone.now(), registration_id=second, pool_pids=[7])
    assert WorkerProcess.objects.filter(name="celery@same").count() == 2
    assert beat.steps_in_flight == 0
    assert WorkerProcess.objects.get(registration_id=first).pool_pids == [7]
