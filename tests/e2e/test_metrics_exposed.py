"""Metrics on real processes: the web's /metrics, a worker host's endpoint (main process and
prefork children added up) and a beat's endpoint expose every metric the shipped Grafana
dashboard and Prometheus alert rules use, with the values a workflow run leaves."""

import json
import re
from pathlib import Path

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.conftest import publish_definition
from tests.e2e.support.platform import free_port, start_beat, start_worker, stop_all, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

REPO = Path(__file__).resolve().parents[2]
METRIC = re.compile(r"\bweft_[a-z0-9_]+")


def used_metrics() -> set[str]:
    dashboard = json.loads((REPO / "deploy/grafana/weft.json").read_text())
    expressions = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    rules = yaml.safe_load((REPO / "deploy/prometheus/alerts.yml").read_text())
    expressions += [r["expr"] for g in rules["groups"] for r in g["rules"]]
    return {name for expr in expressions for name in METRIC.findall(expr)}


def samples(url: str) -> list:
    text = httpx.get(url, timeout=10).text
    return [s for family in text_string_to_metric_families(text) for s in family.samples]


def value(found: list, name: str, **labels) -> float:
    return sum(s.value for s in found
               if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()))


def two_step_workflow(definition_id: str) -> dict:
    return {"definition_id": definition_id, "name": definition_id,
            "outputs": [{"name": "sum", "type": "number"}],
            "root": {"type": "Sequence", "id": "main", "activities": [
                {"type": "WriteLine", "id": "hello", "text": "start"},
                {"type": "examples.add", "id": "add", "input": {"a": 1, "b": 2}},
                {"type": "SetOutput", "id": "out", "output": "sum", "value": {"expr": "result"}},
            ]}}


@pytest.fixture
def observed_platform(e2e_env, web):
    worker_port, beat_port = free_port(), free_port()
    env = {**e2e_env, "WEFT_METRICS_PORT": str(worker_port),
           "WEFT_BEAT_METRICS_PORT": str(beat_port)}
    processes = [start_worker(env, "metrics"), start_beat(env)]
    try:
        yield {"web": f"{web.url}/metrics", "worker": f"http://127.0.0.1:{worker_port}/",
               "beat": f"http://127.0.0.1:{beat_port}/"}
    finally:
        stop_all(processes)


def test_dashboard_and_alert_metrics_are_all_exposed(make_tenant, observed_platform):
    from workflows.models import WorkflowInstance

    _, api = make_tenant()
    publish_definition(api, two_step_workflow("measured"))
    started = api.post("/definitions/measured/dispatch/", {}).json()
    wait_until(lambda: WorkflowInstance.objects.get(id=started["id"]).status == "finished",
               timeout=90, what="the workflow finished on the worker")

    def beat_leads():
        try:
            return value(samples(observed_platform["beat"]), "weft_beat_leader") == 1
        except httpx.HTTPError:
            return False

    wait_until(beat_leads, timeout=60, what="the beat leads")
    web, worker, beat = (samples(observed_platform[k]) for k in ("web", "worker", "beat"))
    used = used_metrics()
    assert len(used) > 25
    exposed = {s.name for s in web + worker + beat}
    exposed |= {name.removesuffix("_bucket") for name in exposed}
    missing = sorted(used - exposed)
    assert not missing, f"used by the dashboard or the alerts but not exposed: {missing}"

    # The values say what happened, in the process where it happened.
    assert value(web, "weft_instances_started_total", definition_id="measured") == 1
    assert value(worker, "weft_instances_finished_total", definition_id="measured",
                 status="finished") == 1
    assert value(worker, "weft_workflow_duration_seconds_count", definition_id="measured",
                 status="finished") == 1
    assert value(worker, "weft_activity_executions_total", activity_type="examples.add",
                 outcome="completed") == 1
    assert value(worker, "weft_steps_processed_total", queue="workflow-tasks",
                 outcome="done") >= 2
    assert value(worker, "weft_worker_heartbeats_total", state="online") >= 1
    assert value(worker, "weft_db_pool_size") >= 1  # pools of the main process and children
    assert {s.labels.get("pid") for s in worker if s.name == "weft_db_pool_size"} - {None}
    assert value(web, "weft_beat_lock_held") == 1
    assert value(web, "weft_queue_scrape_ok") == 1
    assert value(web, "weft_queue_messages", queue="workflow-tasks", state="visible") >= 0
    assert not any("instance_id" in s.labels or "step_id" in s.labels
                   for s in web + worker + beat)
