"""With no OTEL_* variables, tracing stays off: no stored context, no SDK provider, no
instrumentation; with them, each process sets traces up where its work runs."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from opentelemetry import trace

from tests.integration.execution.conftest import drain_steps, sequence
from workflows.models import WorkflowInstance
from workflows.services.instances import instance_dispatch
from workflows.tracing import tracing_enabled

pytestmark = pytest.mark.django_db
REPO = Path(__file__).resolve().parents[3]


def test_without_otel_variables_steps_run_untraced(tenant, publish):
    assert not tracing_enabled()
    assert not trace.get_current_span().get_span_context().is_valid
    publish(sequence("plain", [{"id": "add", "type": "examples.add", "input": {"a": 1, "b": 2}}]))
    instance = instance_dispatch(tenant=tenant, definition_id="plain")
    assert drain_steps() >= 1
    stored = WorkflowInstance.objects.get(id=instance.id)
    assert stored.status == "finished" and stored.trace_context is None


# A fresh process, started the way the platform's are: what it installs at Django's start, and
# what a prefork pool child installs after the fork (Celery's `worker_process_init`).
PROBE = """
import json, os, sys, threading
sys.argv = sys.argv[1:] or ["probe"]
import django
django.setup()
import botocore.client
import httpx
import psycopg
import wrapt
from celery import signals
from opentelemetry import trace
import config.celery

def installed():
    return {
        "modules": sorted(m for m in sys.modules if m.startswith(
            ("opentelemetry.sdk", "opentelemetry.instrumentation", "opentelemetry.exporter"))),
        "provider": type(trace.get_tracer_provider()).__name__,
        # The instrumentations wrap with wrapt (botocore wraps this method itself too).
        "psycopg_wrapped": isinstance(psycopg.connect, wrapt.BaseObjectProxy),
        "botocore_wrapped": isinstance(botocore.client.BaseClient._make_api_call,
                                       wrapt.BaseObjectProxy),
        "httpx_wrapped": isinstance(httpx.HTTPTransport.handle_request, wrapt.BaseObjectProxy),
        "exporter_threads": sum(t.name.startswith("OtelBatch") for t in threading.enumerate()),
    }

at_start = installed()
class Worker:  # what the worker_init handlers read of Celery's WorkController
    pool_cls = os.environ.get("PROBE_POOL", "prefork")

# Celery's worker_init, in the worker's main process before its pool starts.
signals.worker_init.send(sender=Worker())
at_worker_init = installed()
signals.worker_process_init.send(sender=None)
print(json.dumps({"at_start": at_start, "at_worker_init": at_worker_init,
                  "in_child": installed()}))
"""


def _probe(argv: list[str], **variables: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env.update(variables, DJANGO_SETTINGS_MODULE="config.settings_test")
    done = subprocess.run([sys.executable, "-c", PROBE, *argv], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_without_otel_variables_a_process_installs_no_sdk_and_no_instrumentation():
    found = _probe(["celery", "-A", "config", "worker"])
    for stage in ("at_start", "at_worker_init", "in_child"):
        assert found[stage] == {"modules": [], "provider": "ProxyTracerProvider",
                                "psycopg_wrapped": False, "botocore_wrapped": False,
                                "httpx_wrapped": False, "exporter_threads": 0}, stage


def test_a_prefork_worker_sets_traces_up_in_its_children_not_in_its_main_process():
    found = _probe(["celery", "-A", "config", "worker"], OTEL_TRACES_EXPORTER="console")
    # The main process only loads the code (its children share it): no provider, no exporter
    # thread to be caught in the middle of an export by a fork, no instrumentation.
    assert found["at_start"]["provider"] == "ProxyTracerProvider"
    assert found["at_start"]["exporter_threads"] == 0
    assert not found["at_start"]["psycopg_wrapped"]
    assert found["at_worker_init"] == found["at_start"]
    assert found["in_child"]["provider"] == "TracerProvider"
    assert found["in_child"]["exporter_threads"] == 1
    assert found["in_child"]["psycopg_wrapped"]


def test_a_worker_whose_pool_does_not_fork_sets_traces_up_in_its_one_process():
    found = _probe(["celery", "-A", "config", "worker", "-P", "solo"],
                   OTEL_TRACES_EXPORTER="console", PROBE_POOL="solo")
    assert found["at_start"]["provider"] == "ProxyTracerProvider"
    assert found["at_worker_init"]["provider"] == "TracerProvider"
    assert found["at_worker_init"]["exporter_threads"] == 1
    assert found["at_worker_init"]["psycopg_wrapped"]


def test_the_web_sets_traces_up_when_django_starts():
    found = _probe(["gunicorn", "config.wsgi"], OTEL_TRACES_EXPORTER="console")
    assert found["at_start"]["provider"] == "TracerProvider"
    assert found["at_start"]["psycopg_wrapped"]


def test_otel_python_disabled_instrumentations_leaves_those_libraries_alone():
    found = _probe(["gunicorn", "config.wsgi"], OTEL_TRACES_EXPORTER="console",
                   OTEL_PYTHON_DISABLED_INSTRUMENTATIONS="psycopg, botocore")
    assert found["at_start"]["provider"] == "TracerProvider"
    assert not found["at_start"]["psycopg_wrapped"]
    assert not found["at_start"]["botocore_wrapped"]
    assert found["at_start"]["httpx_wrapped"]
