"""Traces end to end on real processes (web, worker, beat, local SQS), exported over OTLP/HTTP
to a receiver in the test: one trace from `POST .../dispatch/` to the worker's last step, with
the right parent/child relations, a retried step joining it through the sweeper, a child
workflow in a trace of its own linked to its parent's, and log lines carrying the ids."""

import json
import uuid
from pathlib import Path

import pytest

from tests.e2e.support.fixtures import E2E_PASSWORD
from tests.e2e.support.otlp import OtlpReceiver
from tests.e2e.support.platform import (
    Api,
    WebServer,
    start_beat,
    start_worker,
    stop_all,
    wait_until,
)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PARENT = {
    "definition_id": "traced", "name": "traced",
    "outputs": [{"name": "sum", "type": "number"}, {"name": "child", "type": "any"}],
    "root": {"type": "Sequence", "id": "main", "activities": [
        {"id": "hello", "type": "WriteLine", "text": "start"},
        {"id": "flaky", "type": "test.flaky", "input": {"fail_times": 1}},
        {"id": "add", "type": "examples.add", "input": {"a": 1, "b": 2}},
        {"id": "call", "type": "ExecuteWorkflow", "definition_id": "traced-child", "wait": True},
        {"id": "out", "type": "SetOutput", "output": "child", "value": {"expr": "result"}},
    ]},
}
CHILD = {
    "definition_id": "traced-child", "name": "traced-child",
    "outputs": [{"name": "sum", "type": "number"}],
    "root": {"type": "Sequence", "id": "main", "activities": [
        {"id": "add", "type": "examples.add", "input": {"a": 2, "b": 3}},
        {"id": "out", "type": "SetOutput", "output": "sum", "value": {"expr": "result"}},
    ]},
}


@pytest.fixture
def traced_platform(e2e_env, e2e_database, transactional_db):
    from workflows.models import Tenant
    from workflows.services.tenancy import tenant_member_ensure

    with OtlpReceiver() as receiver:
        env = {**e2e_env, "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
               "OTEL_BSP_SCHEDULE_DELAY": "200", "WEFT_LOG_FORMAT": "json"}
        web = WebServer(env)
        processes = [start_worker(env, "traced"), start_beat(env)]
        slug = f"e2e-{uuid.uuid4().hex[:8]}"
        membership = tenant_member_ensure(tenant_slug=slug, username=f"{slug}-user",
                                          role="editor", password=E2E_PASSWORD)
        try:
            yield receiver, Api(web.url, f"{slug}-user", E2E_PASSWORD), processes[0]
        finally:
            stop_all(processes)
            web.stop()
            Tenant.objects.filter(pk=membership.tenant_id).delete()


def _ancestors(span, by_id) -> list:
    chain = []
    while span.parent_span_id and span.parent_span_id in by_id:
        span = by_id[span.parent_span_id]
        chain.append(span)
    return chain


def test_one_trace_from_dispatch_to_the_last_step_and_a_linked_child(traced_platform):
    from workflows.models import Step, WorkflowInstance

    receiver, api, worker = traced_platform
    for body in (CHILD, PARENT):
        assert api.post("/definitions/", body).status_code == 201
        assert api.post(f"/definitions/{body['definition_id']}/publish/").status_code == 200
    dispatched = api.post("/definitions/traced/dispatch/", {})
    assert dispatched.status_code == 202
    parent_id = dispatched.json()["id"]
    wait_until(lambda: WorkflowInstance.objects.get(id=parent_id).status == "finished",
               timeout=90, what="the parent finished")
    child_id = str(WorkflowInstance.objects.get(parent_id=parent_id).id)
    step_ids = {str(s) for s in Step.objects.filter(instance_id=parent_id)
                .values_list("id", flat=True)}

    def step_spans(instance_id):
        return [s for s in receiver.snapshot() if s.name.startswith("weft.step")
                and s.attributes.get("weft.instance_id") == instance_id]

    # Every step of the parent (the first advance, two task attempts, the add, the resume after
    # the child) has exported its span.
    def missing_steps():
        return step_ids - {s.attributes["weft.step_id"] for s in step_spans(parent_id)}

    try:
        wait_until(lambda: not missing_steps(), timeout=60,
                   what="the parent's step spans exported")
    except TimeoutError as exc:  # say which steps, to tell a lost span from an unprocessed step
        missing = list(Step.objects.filter(pk__in=missing_steps())
                       .values("id", "kind", "status", "deliveries", "claimed_by"))
        raise AssertionError(f"{exc}; steps without a span: {missing}") from exc
    spans = receiver.snapshot()
    by_id = {s.span_id: s for s in spans}
    [request] = [s for s in spans if s.kind == 2 and "dispatch" in s.name]  # SERVER
    trace_id = request.trace_id
    parent_steps = step_spans(parent_id)
    assert {s.trace_id for s in parent_steps} == {trace_id}
    # Each step span descends from the dispatch request through real parent links: the request,
    # the publish, the consumed message (or the instance's start when the sweeper sent it).
    for span in parent_steps:
        assert request in _ancestors(span, by_id), span.name
        assert span.attributes["weft.definition_id"] == "traced"
        assert span.attributes["weft.tenant_id"]
    publish = [s for s in spans if s.trace_id == trace_id and s.name.startswith("apply_async/")]
    consume = [s for s in spans if s.trace_id == trace_id and s.name.startswith("run/weft.")]
    assert publish and consume
    assert any(by_id.get(c.parent_span_id) in publish for c in consume)
    assert {s.service for s in spans if s.trace_id == trace_id} >= {"weft-web", "weft-worker"}

    # The retry was published by the sweeper (beat's trace): its span joins the instance's
    # trace and links to the message that delivered it.
    task_spans = [s for s in parent_steps if s.attributes.get("weft.activity_type") == "test.flaky"]
    assert len(task_spans) == 2
    failed, retried = sorted(task_spans, key=lambda s: s.attributes["weft.attempt"])
    assert failed.status_code == 2 and "exception" in failed.events  # ERROR
    assert retried.status_code != 2
    assert retried.links and retried.links[0][0] != trace_id
    assert {s.attributes.get("weft.activity_id") for s in task_spans} == {"flaky"}

    # The child runs in a trace of its own, whose start links to the parent's step.
    wait_until(lambda: step_spans(child_id), timeout=30, what="the child's spans")
    child_steps = step_spans(child_id)
    child_trace = {s.trace_id for s in child_steps}
    assert len(child_trace) == 1 and trace_id not in child_trace
    [child_start] = [s for s in receiver.snapshot() if s.name == "weft.workflow traced-child"]
    assert child_start.trace_id in child_trace and not child_start.parent_span_id
    linked = {span_id for tid, span_id in child_start.links if tid == trace_id}
    assert linked and all(by_id[s].attributes.get("weft.instance_id") == parent_id
                          for s in linked if s in by_id)

    # Database calls are spans of the step that made them.
    assert any(s.attributes.get("db.system") in ("postgresql", "postgres")
               and s.trace_id == trace_id for s in receiver.snapshot())

    # The worker's log lines of the parent's steps carry the trace and span ids.
    lines = [json.loads(line) for line in Path(worker.log_path).read_text().splitlines()
             if line.startswith("{")]
    done = [line for line in lines if line.get("event") == "step_done"
            and line.get("instance_id") == parent_id]
    assert done and {line["trace_id"] for line in done} == {trace_id}
    assert {line["span_id"] for line in done} <= {s.span_id for s in parent_steps}
