"""An anonymous caller of a published hook cannot make the web process build a gigabyte."""

import tracemalloc

import pytest
from django.test import Client

from tests.integration.execution.conftest import sequence
from workflows.models import WorkflowInstance

pytestmark = pytest.mark.django_db


def test_heavy_template_in_a_hook_response_fails_fast_with_bounded_memory(
        tenant, publish, operator):
    publish(sequence("heavy-hook", [
        {"id": "in", "type": "HttpEndpoint", "path": "/heavy", "methods": ["GET"],
         "trigger": True},
        {"id": "answer", "type": "WriteHttpResponse", "status": 200,
         "body": {"template": "{{ range(10000)|map('center', 100000)|list|length }}"}},
    ]))
    tracemalloc.start()
    try:
        response = Client().get("/hooks/acme/heavy")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 60 * 2**20, f"the request peaked at {peak / 2**20:.0f} MB"
    instance = WorkflowInstance.objects.get(definition_id="heavy-hook")
    assert response.status_code == 502
    error = response.json()["error"]
    assert error["code"] == "workflow_faulted" and error["details"]["id"] == str(instance.id)
    seen = operator.get(f"/api/v1/instances/{instance.id}/").json()
    assert seen["status"] == "faulted"
    (incident,) = seen["incidents"]
    assert "units of data" in incident["message"], incident
