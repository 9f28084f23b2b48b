"""OpenTelemetry traces, configured only by the standard `OTEL_*` environment variables and off
(a few attribute reads per step) when none asks for an exporter.

One trace follows a workflow: the request (or event, hook, trigger fire) that starts an
instance → the dispatch → the SQS message (the Celery instrumentation carries W3C trace context
in the message headers, which the SQS transport keeps in the message body) → each step a worker
processes → the steps it continues with or publishes. Each instance remembers the context it
started in (`WorkflowInstance.trace_context`), so a step whose message came from elsewhere (the
sweeper, a batch message, a child that ended, an event from another request) still joins its
instance's trace, with a link to whatever delivered it. A child workflow starts its own trace,
linked to the parent's step that started it.

Instrumented libraries: Django (requests), Celery (publish and run), psycopg (queries), httpx
(`SendHttpRequest`), botocore (SQS calls made with boto3).
"""

import functools
import importlib
import os
import sys
from contextlib import contextmanager

import structlog
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.propagate import extract, inject
from opentelemetry.trace import Link, SpanKind, Status, StatusCode

from workflows.models import WorkflowInstance

logger = structlog.get_logger(__name__)
tracer = trace.get_tracer("weft")

_state = {"enabled": False}


def tracing_enabled() -> bool:
    return _state["enabled"]


def tracing_wanted(environ) -> bool:
    """Whether the `OTEL_*` variables ask for traces: an exporter other than `none`, or an OTLP
    endpoint; `OTEL_SDK_DISABLED=true` wins."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporters = [e.strip() for e in environ.get("OTEL_TRACES_EXPORTER", "").split(",")
                 if e.strip()]
    if exporters:
        return any(e != "none" for e in exporters)
    return bool(environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
                or environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))


def _process_kind(argv) -> str:
    """`celery -A config worker|beat ...`, or the web (gunicorn, runserver)."""
    words = set(argv[1:])
    if "worker" in words:
        return "worker"
    if "beat" in words:
        return "beat"
    return "web"


def tracing_configure_at_start(environ=None, argv=None) -> bool:
    """Django's start (AppConfig.ready), before the web's middleware loads: the web, beat and
    commands set traces up now. A Celery worker does not; it sets them up where its tasks run
    (config/celery.py): in each prefork pool child after the fork, or in the main process for
    the pools that do not fork (solo, threads).

    A prefork worker's main process must not hold an exporter when it forks: its export thread
    may be inside an export at that moment (it sends the spans of the SQS queue check and the
    heartbeat's queries), holding a lock (the lazy `import netrc` of `requests`, a connection
    pool's lock) that the child inherits locked, with no thread left to release it. The child's
    own export thread then blocks on that lock at its first export, for good, and every span of
    that child is lost. The main process runs no task, so it has nothing worth tracing; it
    only imports the SDK, so that its children share the loaded code instead of each importing
    it after the fork."""
    environ = os.environ if environ is None else environ
    argv = sys.argv if argv is None else argv
    if _process_kind(argv) == "worker":
        if tracing_wanted(environ):
            for module in _SDK_MODULES:  # code only: no provider, no thread, nothing installed
                importlib.import_module(module)
        return False
    return tracing_configure(environ, argv)


_SDK_MODULES = (
    "opentelemetry.sdk.trace", "opentelemetry.sdk.trace.export", "opentelemetry.sdk.resources",
    "opentelemetry.exporter.otlp.proto.http.trace_exporter",
    "opentelemetry.instrumentation.botocore", "opentelemetry.instrumentation.celery",
    "opentelemetry.instrumentation.django", "opentelemetry.instrumentation.httpx",
    "opentelemetry.instrumentation.psycopg",
)


def tracing_configure(environ=None, argv=None) -> bool:
    """Install the SDK and the instrumentations once in this process when the environment asks
    for traces (otherwise nothing is imported or installed). Call it in the process that runs
    the work, after any fork (see `tracing_configure_at_start`)."""
    environ = os.environ if environ is None else environ
    if _state["enabled"] or not tracing_wanted(environ):
        return _state["enabled"]
    # Imported only when traces are on: a process without them never loads the SDK.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.instrumentation.botocore import BotocoreInstrumentor
    from opentelemetry.instrumentation.celery import CeleryInstrumentor
    from opentelemetry.instrumentation.django import DjangoInstrumentor
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

    kind = _process_kind(sys.argv if argv is None else argv)
    defaults = {} if environ.get("OTEL_SERVICE_NAME") else {"service.name": f"weft-{kind}"}
    provider = TracerProvider(resource=Resource.create({**defaults, "weft.process": kind}))
    names = [e.strip() for e in environ.get("OTEL_TRACES_EXPORTER", "otlp").split(",")
             if e.strip() and e.strip() != "none"]
    for name in names:
        if name == "otlp":
            if environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf") != "http/protobuf":
                logger.warning("otel_protocol_unsupported",
                               protocol=environ.get("OTEL_EXPORTER_OTLP_PROTOCOL"),
                               using="http/protobuf")
            exporter = OTLPSpanExporter()
        elif name == "console":
            exporter = ConsoleSpanExporter()
        else:
            logger.warning("otel_exporter_unknown", exporter=name, known="otlp, console, none")
            continue
        provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    instrumentors = {
        "django": DjangoInstrumentor, "celery": CeleryInstrumentor,
        "psycopg": PsycopgInstrumentor, "httpx": HTTPXClientInstrumentor,
        "botocore": BotocoreInstrumentor,
    }
    # The standard switch of OpenTelemetry's auto-instrumentation, by the same names: e.g.
    # `psycopg` drops the span per SQL statement (most of the spans), `*` keeps Weft's own.
    skipped = {name.strip() for name in
               environ.get("OTEL_PYTHON_DISABLED_INSTRUMENTATIONS", "").split(",")}
    installed = [name for name in instrumentors if not skipped & {name, "*"}]
    for name in installed:
        instrumentors[name]().instrument(tracer_provider=provider, skip_dep_check=True)
    _state["enabled"] = True
    _state["provider"] = provider
    logger.info("tracing_enabled", exporters=names, process=kind, pid=os.getpid(),
                instrumented=installed)
    return True


def tracing_flush(timeout_millis: int = 5000) -> None:
    """Send the spans still waiting in the batch. A prefork pool child ends with `os._exit`, so
    the SDK's own flush at interpreter exit never runs there (Celery's
    `worker_process_shutdown`)."""
    provider = _state.get("provider")
    if provider is not None:
        provider.force_flush(timeout_millis)


def instance_trace_context(*, instance, parent_instance_id=None) -> dict | None:
    """The context an instance's steps belong to: a `weft.workflow` span under the current one
    (the request or event that starts it), or, for a child workflow, the root of a trace of its
    own linked to the parent's current span. None when traces are off."""
    if not _state["enabled"]:
        return None
    current = trace.get_current_span().get_span_context()
    attributes = {"weft.instance_id": str(instance.id),
                  "weft.definition_id": instance.definition_id,
                  "weft.definition_version": instance.version,
                  "weft.tenant_id": instance.tenant_id}
    if parent_instance_id is not None:
        attributes["weft.parent_instance_id"] = str(parent_instance_id)
        span = tracer.start_span(
            f"weft.workflow {instance.definition_id}", context=otel_context.Context(),
            links=[Link(current)] if current.is_valid else None, attributes=attributes)
    else:
        span = tracer.start_span(f"weft.workflow {instance.definition_id}",
                                 attributes=attributes)
    span.end()
    carrier: dict = {}
    inject(carrier, context=trace.set_span_in_context(span))
    return carrier


@functools.lru_cache(maxsize=4096)
def _stored_context(instance_id) -> dict | None:
    """The context an instance started in. Written once, when the instance is created, and never
    changed: a worker process reads it once per instance, not once per step (the steps of a
    burst run in one process). Read-only."""
    return WorkflowInstance.objects.filter(pk=instance_id).values_list(
        "trace_context", flat=True).first()


@contextmanager
def step_span(step):
    """A span around processing one step. Its parent is the delivering span (the Celery task,
    or the step this worker just finished) when that is in the instance's trace; otherwise the
    instance's own context, with a link to what delivered it. Reading the stored context costs
    one query per instance and process, only when traces are on."""
    if not _state["enabled"]:
        yield None
        return
    current = trace.get_current_span().get_span_context()
    stored = _stored_context(step.instance_id)
    parent_context, links = None, None
    if stored:
        origin = extract(stored)
        origin_span = trace.get_current_span(origin).get_span_context()
        if origin_span.is_valid and (not current.is_valid
                                     or current.trace_id != origin_span.trace_id):
            parent_context = origin
            links = [Link(current)] if current.is_valid else None
    attributes = {"weft.step_id": str(step.id), "weft.instance_id": str(step.instance_id),
                  "weft.step_kind": step.kind, "weft.queue": step.queue,
                  "weft.tenant_id": step.tenant_id, "weft.attempt": step.attempt}
    payload = step.payload or {}
    for key, name in (("activity_id", "weft.activity_id"), ("activity_type", "weft.activity_type"),
                      ("definition_id", "weft.definition_id")):
        if isinstance(payload.get(key), str):
            attributes.setdefault(name, payload[key])
    name = f"weft.step {step.kind}"
    if "weft.activity_type" in attributes:
        name += f" {attributes['weft.activity_type']}"
    with tracer.start_as_current_span(name, context=parent_context, links=links,
                                      kind=SpanKind.INTERNAL, attributes=attributes) as span:
        yield span


def annotate_instance(instance) -> None:
    """Name the definition and tenant on the current span, and mark it failed when the
    instance faulted."""
    if not _state["enabled"]:
        return
    span = trace.get_current_span()
    if not span.is_recording():
        return
    span.set_attribute("weft.definition_id", instance.definition_id)
    span.set_attribute("weft.tenant_id", instance.tenant_id)
    span.set_attribute("weft.instance_status", instance.status)
    if instance.status == "faulted":
        span.set_status(Status(StatusCode.ERROR, "the instance faulted"))


def record_error(exc: BaseException) -> None:
    """A failed task activity: recorded on the current span (its step's)."""
    if not _state["enabled"]:
        return
    span = trace.get_current_span()
    if span.is_recording():
        span.record_exception(exc)
        span.set_status(Status(StatusCode.ERROR, str(exc) or type(exc).__name__))
