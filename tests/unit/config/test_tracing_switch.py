"""Traces are on only when the standard OTEL_* variables ask for them, and log lines carry the
current span's ids."""

import pytest
from opentelemetry.sdk.trace import TracerProvider

from config.logs import _trace_ids
from workflows.tracing import _process_kind, tracing_wanted


@pytest.mark.parametrize(("environ", "wanted"), [
    ({}, False),
    ({"OTEL_SERVICE_NAME": "weft"}, False),
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, True),
    ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, True),
    ({"OTEL_TRACES_EXPORTER": "console"}, True),
    ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, False),
    ({"OTEL_TRACES_EXPORTER": "none,otlp"}, True),
    ({"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, False),
])
def test_traces_are_wanted_only_when_an_exporter_is_configured(environ, wanted):
    assert tracing_wanted(environ) is wanted


@pytest.mark.parametrize(("argv", "kind"), [
    (["celery", "-A", "config", "worker", "-c", "2"], "worker"),
    (["celery", "-A", "config", "beat", "-S", "x"], "beat"),
    (["gunicorn", "config.wsgi", "-w", "3"], "web"),
    (["manage.py", "runserver", "0:8000"], "web"),
])
def test_the_default_service_name_follows_the_process(argv, kind):
    assert _process_kind(argv) == kind


def test_log_lines_carry_the_current_span_ids_and_nothing_without_one():
    assert _trace_ids(None, "info", {"event": "x"}) == {"event": "x"}
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("step") as span:
        line = _trace_ids(None, "info", {"event": "x"})
    context = span.get_span_context()
    assert line["trace_id"] == f"{context.trace_id:032x}"
    assert line["span_id"] == f"{context.span_id:016x}"
