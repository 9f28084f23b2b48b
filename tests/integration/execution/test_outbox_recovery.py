"""Issue 8 hole 9 through the services and beat's sweep task: a step whose sending was never
confirmed (its publisher died between commit and send) is sent again within seconds; a step
whose message the broker accepted is not sent again while it waits in the queue."""

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.integration.execution.conftest import sequence
from workflows.models import Step
from workflows.services.instances import instance_dispatch
from workflows.tasks import sweep_steps

pytestmark = pytest.mark.django_db

HELLO = sequence("hello", [{"id": "w", "type": "WriteLine", "text": "hi"}])


def aged(step: Step, seconds: float, *fields: str) -> None:
    Step.objects.filter(pk=step.pk).update(
        **{field: timezone.now() - timedelta(seconds=seconds) for field in fields})


@pytest.fixture
def hello(publish):
    publish(HELLO)


def test_a_step_the_broker_accepted_is_marked_sent(tenant, hello,
                                                   django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        instance = instance_dispatch(tenant=tenant, definition_id="hello")
    step = Step.objects.get(instance=instance)
    assert step.published_at is not None and step.sent_at is not None
    assert step.publish_count == 1


def test_a_step_whose_publisher_died_after_commit_is_sent_again_within_seconds(
        tenant, hello, settings):
    # The commit happened; the process died before its after-commit publish ran.
    instance = instance_dispatch(tenant=tenant, definition_id="hello")
    step = Step.objects.get(instance=instance)
    assert step.sent_at is None
    assert sweep_steps()["published"] == 0  # its publisher may still be sending it
    aged(step, settings.WEFT_STEP_REPUBLISH_AFTER + 1, "published_at")
    assert sweep_steps()["published"] == 1
    step.refresh_from_db()
    assert step.sent_at is not None and step.publish_count == 2
    assert settings.WEFT_STEP_REPUBLISH_AFTER <= 10  # "within seconds" by default


def test_a_sent_step_waiting_in_a_deep_queue_is_not_sent_again(tenant, hello, settings,
                                                              django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        instance = instance_dispatch(tenant=tenant, definition_id="hello")
    step = Step.objects.get(instance=instance)
    # An hour in the queue, far beyond any publishing delay: still not published twice.
    aged(step, 3600, "published_at", "sent_at", "run_after")
    assert sweep_steps()["published"] == 0
    step.refresh_from_db()
    assert step.publish_count == 1
    # Past SQS's retention the message may have been dropped: then it is sent again.
    aged(step, settings.WEFT_STEP_LOST_AFTER + 60, "published_at", "sent_at", "run_after")
    assert sweep_steps()["published"] == 1
    step.refresh_from_db()
    assert step.publish_count == 2


def test_a_failed_publish_is_sent_again_on_the_next_sweep(tenant, hello, monkeypatch,
                                                          django_capture_on_commit_callbacks):
    from workflows.services import outbox

    def refuse(*, queue, messages):
        raise ConnectionError("broker down")

    monkeypatch.setattr(outbox, "publish_messages", refuse)
    with django_capture_on_commit_callbacks(execute=True):
        instance = instance_dispatch(tenant=tenant, definition_id="hello")
    step = Step.objects.get(instance=instance)
    assert step.published_at is None and step.sent_at is None
    monkeypatch.undo()
    assert sweep_steps()["published"] == 1
    step.refresh_from_db()
    assert step.sent_at is not None


def test_a_sent_step_whose_worker_died_is_sent_again_once_its_lease_expires(
        tenant, hello, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        instance = instance_dispatch(tenant=tenant, definition_id="hello")
    step = Step.objects.get(instance=instance)
    assert step.sent_at is not None
    # A worker took it and died: running, its lease run out.
    Step.objects.filter(pk=step.pk).update(status="running", deliveries=1,
                                           lease_until=timezone.now() - timedelta(seconds=1))
    with django_capture_on_commit_callbacks(execute=True):
        result = sweep_steps()
    assert result["revived"] == 1 and result["published"] == 1
    step.refresh_from_db()
    assert step.status == "pending" and step.publish_count == 2 and step.sent_at is not None
