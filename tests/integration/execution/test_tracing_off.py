"""With no OTEL_* variables, tracing stays off: no stored context, no SDK provider."""

import pytest
from opentelemetry import trace

from tests.integration.execution.conftest import drain_steps, sequence
from workflows.models import WorkflowInstance
from workflows.services.instances import instance_dispatch
from workflows.tracing import tracing_enabled

pytestmark = pytest.mark.django_db


def test_without_otel_variables_steps_run_untraced(tenant, publish):
    assert not tracing_enabled()
    assert not trace.get_current_span().get_span_context().is_valid
    publish(sequence("plain", [{"id": "add", "type": "examples.add", "input": {"a": 1, "b": 2}}]))
    instance = instance_dispatch(tenant=tenant, definition_id="plain")
    assert drain_steps() >= 1
    stored = WorkflowInstance.objects.get(id=instance.id)
    assert stored.status == "finished" and stored.trace_context is None
