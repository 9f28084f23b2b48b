"""The beat leader fires due timers itself and sleeps until the next due time (never longer than
WEFT_TIMER_POLL_SECONDS), in the scheduler process: no task, no broker round trip."""

from datetime import timedelta

import pytest
from django.utils import timezone

from config.celery import app
from tests.integration.execution.conftest import sequence
from workflows.models import Bookmark, Step, StepKind
from workflows.scheduler import MIN_TIMER_WAIT, LockedDatabaseScheduler
from workflows.services.inline import instance_execute

pytestmark = pytest.mark.django_db


@pytest.fixture
def scheduler(settings):
    settings.WEFT_TIMER_POLL_SECONDS = 1.0
    return LockedDatabaseScheduler(app=app, lazy=True)


def test_the_leader_fires_due_timers_and_wakes_for_the_next_one(tenant, publish, scheduler,
                                                                 django_capture_on_commit_callbacks):
    publish(sequence("nap", [{"id": "wait", "type": "Delay", "duration": 60}]))
    due, later = (instance_execute(tenant=tenant, definition_id="nap") for _ in range(2))
    assert scheduler.fire_timers() == 1.0  # nothing due within a second: the poll interval
    Bookmark.objects.filter(instance=due).update(due_at=timezone.now() - timedelta(seconds=1))
    Bookmark.objects.filter(instance=later).update(due_at=timezone.now() + timedelta(seconds=0.5))
    with django_capture_on_commit_callbacks(execute=False):
        wait = scheduler.fire_timers()
    assert MIN_TIMER_WAIT <= wait <= 0.5  # wakes when the next timer is due
    assert Step.objects.filter(instance=due, kind=StepKind.RESUME).count() == 1
    assert not Step.objects.filter(instance=later).exclude(kind="run").exists()
    with django_capture_on_commit_callbacks(execute=False):
        scheduler.fire_timers()
    assert Step.objects.filter(instance=due, kind=StepKind.RESUME).count() == 1  # once
