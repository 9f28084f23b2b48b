"""/metrics: fleet gauges read from the database, the optional bearer token, and counters
added up across processes (PROMETHEUS_MULTIPROC_DIR, as gunicorn.conf.py sets it)."""

import re
import subprocess
import sys
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from tests.integration.execution.conftest import sequence
from workflows.metrics import OPERATIONS
from workflows.models import Bookmark, DeadLetter, Step, StepStatus, WorkerProcess
from workflows.selectors.operations import operations_snapshot
from workflows.services.instances import instance_dispatch
from workflows.services.workers import worker_heartbeat

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_scrape():
    OPERATIONS._cached = None
    yield
    OPERATIONS._cached = None


def gauge(body: str, name: str) -> float:
    match = re.search(rf"^{re.escape(name)} (\S+)$", body, re.MULTILINE)
    assert match, f"{name} not in /metrics"
    return float(match.group(1))


@pytest.fixture
def busy_fleet(tenant, publish, settings):
    """Three waiting instances in known shapes: a due step, a stalled step, an overdue timer."""
    settings.WEFT_STEP_CONTINUE_MAX = 0
    now = timezone.now()
    publish(sequence("waits", [{"id": "nap", "type": "Delay", "duration": "PT1H"}]))
    publish(sequence("adds", [{"id": "a", "type": "examples.add", "input": {"a": 1, "b": 2}}]))
    due = instance_dispatch(tenant=tenant, definition_id="adds")
    Step.objects.filter(instance=due).update(run_after=now - timedelta(seconds=30))
    stalled = instance_dispatch(tenant=tenant, definition_id="adds")
    Step.objects.filter(instance=stalled).update(
        status=StepStatus.RUNNING, lease_until=now - timedelta(seconds=1))
    waiting = instance_dispatch(tenant=tenant, definition_id="waits")
    Step.objects.filter(instance=waiting).delete()
    Bookmark.objects.create(instance=waiting, tenant=tenant, activity_id="nap",
                            activity_type="Delay", name="Delay", key="k-late", hash="h-late",
                            due_at=now - timedelta(seconds=60))
    Bookmark.objects.create(instance=waiting, tenant=tenant, activity_id="nap",
                            activity_type="Delay", name="Delay", key="k-soon", hash="h-soon",
                            due_at=now + timedelta(seconds=60))
    worker_heartbeat(name="celery@a", hostname="a", pid=1, queues=[], started_at=now)
    worker_heartbeat(name="celery@b", hostname="b", pid=2, queues=[], started_at=now)
    WorkerProcess.objects.filter(name="celery@b").update(last_heartbeat=now - timedelta(hours=1))
    DeadLetter.objects.create(tenant=tenant, queue="workflow-tasks-dlq", message_id="m-1",
                              task_name="weft.run_step", body={}, receive_count=3,
                              received_at=now)
    return now


def test_snapshot_counts_due_stalled_overdue_workers_and_dead_letters(busy_fleet):
    snap = operations_snapshot(now=busy_fleet)
    assert snap.steps_due == 1
    assert 29 <= snap.oldest_due_step_age <= 31
    assert (snap.steps_running, snap.steps_stalled) == (1, 1)
    assert snap.timers_overdue == 1
    assert 59 <= snap.oldest_overdue_timer_age <= 61
    assert snap.workers == {"online": 1, "lost": 1}
    assert snap.dead_letters_waiting == 1


def test_held_instances_timers_are_not_overdue(busy_fleet):
    from workflows.models import WorkflowInstance

    WorkflowInstance.objects.filter(definition_id="waits").update(held=True)
    assert operations_snapshot(now=busy_fleet).timers_overdue == 0


def test_metrics_serve_the_fleet_gauges(busy_fleet):
    body = Client().get("/metrics").content.decode()
    assert gauge(body, "weft_operations_scrape_ok") == 1
    assert gauge(body, "weft_steps_due") == 1
    assert gauge(body, "weft_steps_stalled") == 1
    assert gauge(body, "weft_timers_overdue") == 1
    assert gauge(body, "weft_dead_letters_waiting") == 1
    assert gauge(body, 'weft_workers{state="lost"}') == 1
    assert gauge(body, 'weft_workers{state="online"}') == 1


def test_metrics_token_is_required_when_configured(settings, db):
    settings.WEFT_METRICS_TOKEN = "s3cret-metrics"
    refused = Client().get("/metrics")
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "not_authenticated"
    wrong = Client().get("/metrics", HTTP_AUTHORIZATION="Bearer nope")
    assert wrong.status_code == 401
    allowed = Client().get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-metrics")
    assert allowed.status_code == 200
    assert "weft_definition_cache_requests_total" in allowed.content.decode()


def test_a_database_outage_still_answers_the_scrape(monkeypatch, db):
    def down(**kwargs):
        raise RuntimeError("connection refused")

    monkeypatch.setattr("workflows.selectors.operations.operations_snapshot", down)
    response = Client().get("/metrics")
    assert response.status_code == 200
    assert gauge(response.content.decode(), "weft_operations_scrape_ok") == 0


INCREMENT = (
    "from workflows.metrics import DEFINITION_CACHE_REQUESTS as c;"
    "c.labels(result='hit').inc({n})"
)
RENDER = (
    "from prometheus_client import generate_latest;"
    "from workflows.metrics import process_registry;"
    "print(generate_latest(process_registry()).decode())"
)


def test_counters_add_up_across_processes_with_a_multiprocess_directory(tmp_path):
    env = {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    for n in (3, 4):
        subprocess.run([sys.executable, "-c", INCREMENT.format(n=n)], env=env, check=True)
    rendered = subprocess.run([sys.executable, "-c", RENDER], env=env, check=True,
                              capture_output=True, text=True).stdout
    assert gauge(rendered, 'weft_definition_cache_requests_total{result="hit"}') == 7
