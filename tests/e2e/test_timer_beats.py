"""The beat leader fires timers itself: killed in the middle of its claims, the standby that
takes over fires the rest, and every timer fires exactly once (real beats, a real worker, the
local SQS server)."""

import os
import signal

import pytest
from django.db import connection
from django.utils import timezone

from tests.e2e.support.platform import start_beat, start_worker, stop_all, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

TIMERS = 300


def _leader(beats):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a "
            "ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted "
            "AND a.application_name LIKE 'weft-beat %%'")
        names = [row[0] for row in cursor.fetchall()]
    pids = {int(name.rsplit("pid=", 1)[1]) for name in names if "pid=" in name}
    return next((beat for beat in beats if beat.pid in pids), None)


def test_a_leader_killed_while_claiming_timers_leaves_each_to_fire_once(make_tenant, e2e_env):
    from workflows.models import Bookmark, JournalEntry, Step, WorkflowInstance
    from workflows.services.definitions import definition_create, definition_publish
    from workflows.services.inline import instance_execute

    tenant, _ = make_tenant()
    definition_create(tenant=tenant, user=None, body={
        "definition_id": "alarm", "name": "alarm",
        "root": {"type": "Sequence", "id": "main", "activities": [
            {"id": "sleep", "type": "Delay", "duration": 3600},
            {"id": "done", "type": "WriteLine", "text": "woke"}]}})
    definition_publish(tenant=tenant, user=None, definition_id="alarm")
    ids = [instance_execute(tenant=tenant, definition_id="alarm").id for _ in range(TIMERS)]
    # Small claims (5 bookmarks a transaction): the leader is killed between or inside them.
    env = {**e2e_env, "WEFT_TIMER_BATCH_SIZE": "5"}
    beats = [start_beat(env), start_beat(env)]
    worker = start_worker(env, "alarm-w1")
    resumes = Step.objects.filter(instance_id__in=ids, kind="resume")
    try:
        leader = wait_until(lambda: _leader(beats), timeout=60, interval=0.05, what="a leader")
        Bookmark.objects.filter(instance_id__in=ids).update(due_at=timezone.now())
        wait_until(resumes.exists, timeout=30, interval=0.01, what="the first claims")
        os.killpg(leader.pid, signal.SIGKILL)
        leader.wait(timeout=10)
        claimed_by_the_killed_leader = resumes.count()
        wait_until(lambda: WorkflowInstance.objects.filter(
            id__in=ids, status="finished").count() == TIMERS, timeout=180, interval=1,
            what=f"{TIMERS} timers fired and resumed")
    finally:
        stop_all([*beats, worker])
    assert claimed_by_the_killed_leader < TIMERS, "the leader finished before it was killed"
    assert resumes.count() == TIMERS
    assert sorted(resumes.values_list("instance_id", flat=True)) == sorted(ids)
    assert JournalEntry.objects.filter(instance_id__in=ids, event="resumed").count() == TIMERS
    assert not Bookmark.objects.filter(instance_id__in=ids).exists()
