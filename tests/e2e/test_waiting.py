"""Waiting end to end: timers, triggers, HTTP endpoints and child workflows on real web, worker
and beat processes over a local SQS server."""

import itertools
import os
import signal
import time
from datetime import datetime, timedelta

import httpx
import pytest
from django.db import connection
from django.utils import timezone

from tests.e2e.conftest import publish_definition
from tests.e2e.support.platform import start_beat, start_worker, stop_all, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def statuses(ids) -> set:
    from workflows.models import WorkflowInstance

    return set(WorkflowInstance.objects.filter(id__in=ids).values_list("status", flat=True))


@pytest.fixture
def workers(e2e_env):
    started = [start_worker(e2e_env, "wait-w1"), start_worker(e2e_env, "wait-w2")]
    try:
        yield started
    finally:
        stop_all(started)


def test_http_triggered_workflow_answers_a_real_http_request(make_tenant, web, workers):
    tenant, api = make_tenant()
    publish_definition(api, {
        "definition_id": "quote", "name": "quote",
        "root": {"type": "Sequence", "id": "main", "activities": [
            {"id": "in", "type": "HttpEndpoint", "path": "quotes/{sku}", "methods": ["POST"],
             "trigger": True},
            {"id": "price", "type": "examples.add",
             "input": {"a": {"expr": "result.body.qty * 10"}, "b": 5}},
            {"id": "answer", "type": "WriteHttpResponse", "status": 200,
             "headers": {"X-Sku": {"expr": "outputs['in'].route.sku"}},
             "body": {"expr": "{'sku': outputs['in'].route.sku, 'price': result}"}},
        ]},
    })
    response = httpx.post(f"{web.url}/hooks/{tenant.slug}/quotes/ABC", json={"qty": 3},
                          timeout=30)
    assert response.status_code == 200, response.text
    assert response.json() == {"sku": "ABC", "price": 35}
    assert response.headers["x-sku"] == "ABC"


def test_parent_waits_for_a_child_that_waits_for_an_event_on_the_workers(make_tenant, workers,
                                                                          beat):
    _, api = make_tenant()
    publish_definition(api, {
        "definition_id": "child", "name": "child",
        "outputs": [{"name": "by", "type": "string"}],
        "root": {"type": "Sequence", "id": "main", "activities": [
            {"id": "w", "type": "Event", "event": "approved"},
            {"id": "o", "type": "SetOutput", "output": "by", "value": {"expr": "result.by"}}]},
    })
    publish_definition(api, {
        "definition_id": "parent", "name": "parent",
        "outputs": [{"name": "approved_by", "type": "string"}],
        "root": {"type": "Sequence", "id": "main", "activities": [
            {"id": "call", "type": "ExecuteWorkflow", "definition_id": "child", "wait": True},
            {"id": "o", "type": "SetOutput", "output": "approved_by",
             "value": {"expr": "result.by"}}]},
    })
    parent_id = api.post("/definitions/parent/dispatch/", {"correlation_id": "deal-9"}).json()["id"]
    wait_until(lambda: api.get("/instances/", definition_id="child",
                               status="suspended").json()["results"],
               timeout=30, what="the child waiting")
    result = api.post("/events/approved/", {"payload": {"by": "ann"},
                                            "correlation_id": "deal-9"}).json()
    assert len(result["resumed"]) == 1
    wait_until(lambda: api.get(f"/instances/{parent_id}/").json()["status"] == "finished",
               timeout=30, what="the parent finished")
    assert api.get(f"/instances/{parent_id}/").json()["output"] == {"approved_by": "ann"}


def test_thousand_delays_due_in_the_same_second_fire_exactly_once(make_tenant, e2e_env):
    from workflows.models import Bookmark, JournalEntry, Step, WorkflowInstance
    from workflows.services.definitions import definition_create, definition_publish
    from workflows.services.inline import instance_execute

    tenant, _ = make_tenant()
    due = (timezone.now() + timedelta(seconds=25)).replace(microsecond=0)
    definition_create(tenant=tenant, user=None, body={
        "definition_id": "alarm", "name": "alarm",
        "root": {"type": "Sequence", "id": "main", "activities": [
            {"id": "sleep", "type": "Delay", "until": due.isoformat()},
            {"id": "done", "type": "WriteLine", "text": "woke"}]}})
    definition_publish(tenant=tenant, user=None, definition_id="alarm")
    ids = [instance_execute(tenant=tenant, definition_id="alarm").id for _ in range(1000)]
    assert Bookmark.objects.filter(instance_id__in=ids, due_at=due).count() == 1000
    processes = [start_worker(e2e_env, "alarm-w1"), start_worker(e2e_env, "alarm-w2"),
                 start_beat(e2e_env), start_beat(e2e_env)]
    try:
        wait_until(lambda: statuses(ids) == {"finished"}, timeout=120, interval=1,
                   what="1000 timers fired")
    finally:
        stop_all(processes)
    resumes = JournalEntry.objects.filter(instance_id__in=ids, event="resumed")
    assert resumes.count() == 1000
    assert Step.objects.filter(instance_id__in=ids, kind="resume").count() == 1000
    assert not Bookmark.objects.filter(instance_id__in=ids).exists()
    fired = [_iso(p["payload"]["fired_at"]) for p in Step.objects.filter(
        instance_id__in=ids, kind="resume").values_list("payload", flat=True)]
    assert min(fired) >= due  # never early (lateness figures: `make bench`)
    assert WorkflowInstance.objects.filter(id__in=ids, status="finished").count() == 1000


def test_timer_trigger_under_three_beats_with_the_leader_killed(make_tenant, e2e_env):
    from workflows.models import TriggerFire
    from workflows.services.definitions import definition_create, definition_publish

    tenant, _ = make_tenant()
    definition_create(tenant=tenant, user=None, body={
        "definition_id": "heartbeat", "name": "heartbeat",
        "root": {"type": "Sequence", "id": "main", "activities": [
            {"id": "tick", "type": "Timer", "interval": 2, "trigger": True}]}})
    definition_publish(tenant=tenant, user=None, definition_id="heartbeat")
    worker = start_worker(e2e_env, "tick-w1")
    beats = [start_beat(e2e_env) for _ in range(3)]
    try:
        wait_until(lambda: TriggerFire.objects.filter(trigger__definition_id="heartbeat")
                   .count() >= 2, timeout=40, what="the timer trigger firing")
        for _ in range(3):
            leader = _leader_pid(beats)
            victim = next(b for b in beats if b.pid == leader)
            os.killpg(victim.pid, signal.SIGKILL)
            victim.wait(timeout=10)
            beats.remove(victim)
            beats.append(start_beat(e2e_env))
            time.sleep(5)
        time.sleep(2)
    finally:
        stop_all([*beats, worker])
    fires = list(TriggerFire.objects.filter(trigger__definition_id="heartbeat")
                 .order_by("scheduled_for").values_list("scheduled_for", "outcome"))
    slots = [slot for slot, _ in fires]
    assert len(slots) == len(set(slots))
    assert all(outcome == "started" for _, outcome in fires)
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(slots)]
    assert min(gaps) >= 1.9, gaps  # no slot fired twice
    standby, period = 1.0, 2.0
    assert max(gaps) <= standby + period + 2.0, gaps  # takeover within a standby interval


def _leader_pid(beats) -> int:
    """The OS pid of the beat whose lock connection holds the advisory lock."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a "
            "ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted "
            "AND a.application_name LIKE 'weft-beat %%'")
        rows = [r[0] for r in cursor.fetchall()]
    pids = {int(name.rsplit("pid=", 1)[1]) for name in rows if "pid=" in name}
    alive = [b.pid for b in beats if b.pid in pids]
    if not alive:
        raise AssertionError(f"no leader among {[b.pid for b in beats]}: {rows}")
    return alive[0]


def _iso(value: str) -> datetime:
    return datetime.fromisoformat(value)
