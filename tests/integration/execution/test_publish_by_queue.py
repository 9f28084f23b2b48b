"""Issue 8 hole 4: publishing many steps at once (timers due together, a sweep) puts every step
on its own definition's queue."""

from datetime import timedelta

import pytest
from celery import current_app
from django.conf import settings
from django.utils import timezone

from tests.integration.execution.conftest import drain_steps, sequence
from workflows.models import Bookmark, Step, StepKind
from workflows.services.instances import instance_dispatch
from workflows.tasks import fire_due_timers, sweep_steps

pytestmark = pytest.mark.django_db


def napper(definition_id: str, queue: str) -> dict:
    return sequence(definition_id, [{"id": "nap", "type": "Delay", "duration": 60}],
                    options={"queue": queue})


def drain(base_queue: str) -> list[str]:
    """Every step id in the messages waiting on a queue of the (in-memory) broker."""
    step_ids = []
    with current_app.connection_for_read() as connection:
        queue = connection.SimpleQueue(settings.WEFT_SQS.celery_queue(base_queue))
        try:
            while True:
                try:
                    message = queue.get(timeout=0.2)
                except queue.Empty:
                    return step_ids
                message.ack()
                args, _, _ = message.decode()
                step_ids += args[0] if isinstance(args[0], list) else [args[0]]
        finally:
            queue.close()


def steps_of(definition_id: str, **filters) -> set[str]:
    return {str(pk) for pk in Step.objects.filter(instance__definition_id=definition_id,
                                                  **filters).values_list("pk", flat=True)}


@pytest.fixture
def two_queues(tenant, publish):
    publish(napper("on-billing", "billing"))
    publish(napper("on-default", "default"))
    drain("billing"), drain("default")


def test_timers_due_together_publish_each_step_on_its_definitions_queue(
        tenant, two_queues, django_capture_on_commit_callbacks):
    for _ in range(12):
        for definition_id in ("on-billing", "on-default"):
            instance_dispatch(tenant=tenant, definition_id=definition_id)
    drain_steps()
    Bookmark.objects.update(due_at=timezone.now() - timedelta(seconds=1))
    with django_capture_on_commit_callbacks(execute=True):
        assert fire_due_timers() == 24
    resumes = {"kind": StepKind.RESUME}
    billing, default = drain("billing"), drain("default")
    assert len(billing) == len(set(billing)) == 12
    assert set(billing) == steps_of("on-billing", **resumes)
    assert set(default) == steps_of("on-default", **resumes)


def test_the_sweeper_publishes_each_unpublished_step_on_its_queue(tenant, two_queues):
    for _ in range(15):
        for definition_id in ("on-default", "on-billing"):
            instance_dispatch(tenant=tenant, definition_id=definition_id)
    # Committed but never sent (the broker was down when they were written).
    Step.objects.update(published_at=None)
    assert sweep_steps()["published"] == 30
    billing, default = drain("billing"), drain("default")
    assert sorted(billing) == sorted(steps_of("on-billing"))
    assert sorted(default) == sorted(steps_of("on-default"))
