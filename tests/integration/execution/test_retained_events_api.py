"""Issue 8 hole 1: events kept with `retain_seconds` through `POST events/{name}/`, consumed by
exactly one later wait, and purged on beat's schedule once expired."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from tests.integration.execution.conftest import drain_steps, sequence
from workflows.models import RetainedEvent
from workflows.tasks import purge_retained_events

pytestmark = pytest.mark.django_db

WAITER = sequence("waiter", [
    {"id": "wait", "type": "Event", "event": "paid"},
    {"id": "out", "type": "SetOutput", "output": "paid_by", "value": {"expr": "result.by"}},
], outputs=[{"name": "paid_by", "type": "string"}])


def _post_event(operator, **body):
    response = operator.post("/api/v1/events/paid/", body, format="json")
    assert response.status_code == 200, response.json()
    return response.json()


def _dispatch(operator, correlation_id: str) -> str:
    response = operator.post("/api/v1/definitions/waiter/dispatch/",
                             {"input": {}, "correlation_id": correlation_id}, format="json")
    assert response.status_code == 202, response.json()
    return response.json()["id"]


def _instance(operator, instance_id: str) -> dict:
    return operator.get(f"/api/v1/instances/{instance_id}/").json()


def test_an_event_posted_with_retain_seconds_is_kept_and_taken_by_one_later_wait(
        publish, operator):
    publish(WAITER)
    answer = _post_event(operator, payload={"by": "ann"}, correlation_id="o-1", retain_seconds=60)
    assert {key: answer[key] for key in ("resumed", "started", "retained")} == {
        "resumed": [], "started": [], "retained": True}
    assert "kept for 60 s" in answer["reason"]["message"]
    first, second = _dispatch(operator, "o-1"), _dispatch(operator, "o-1")
    drain_steps()
    statuses = {_instance(operator, first)["status"], _instance(operator, second)["status"]}
    assert statuses == {"finished", "suspended"}  # exactly one wait consumed the event
    finished = [i for i in (first, second) if _instance(operator, i)["status"] == "finished"]
    assert _instance(operator, finished[0])["output"] == {"paid_by": "ann"}
    assert not RetainedEvent.objects.exists()


def test_a_retained_event_only_meets_waits_of_its_correlation(publish, operator):
    publish(WAITER)
    _post_event(operator, payload={"by": "bob"}, correlation_id="o-2", retain_seconds=60)
    other = _dispatch(operator, "o-3")
    drain_steps()
    assert _instance(operator, other)["status"] == "suspended"
    assert RetainedEvent.objects.count() == 1


def test_an_expired_retained_event_meets_no_wait(publish, operator):
    publish(WAITER)
    _post_event(operator, payload={"by": "cy"}, correlation_id="o-4", retain_seconds=5)
    # Time passes beyond the retention (the row's expiry is what a clock would reach).
    RetainedEvent.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    late = _dispatch(operator, "o-4")
    drain_steps()
    assert _instance(operator, late)["status"] == "suspended"


def test_retain_seconds_out_of_range_is_a_400(operator):
    response = operator.post("/api/v1/events/paid/", {"retain_seconds": -1}, format="json")
    assert response.status_code == 400
    assert "retain_seconds" in str(response.json()["error"]["details"])


def test_beat_purges_expired_retained_events_and_keeps_live_ones(publish, operator):
    schedule = settings.CELERY_BEAT_SCHEDULE
    assert any(entry["task"] == "weft.purge_retained_events" for entry in schedule.values())
    _post_event(operator, payload={"n": 1}, correlation_id="gone", retain_seconds=5)
    _post_event(operator, payload={"n": 2}, correlation_id="kept", retain_seconds=600)
    RetainedEvent.objects.filter(correlation_id="gone").update(
        expires_at=timezone.now() - timedelta(seconds=1))
    assert purge_retained_events() == 1
    assert list(RetainedEvent.objects.values_list("correlation_id", flat=True)) == ["kept"]
    assert purge_retained_events() == 0
