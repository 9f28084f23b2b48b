"""Celery's broker settings from environment variables: a pure function of the mapping it gets.

No Django here: `config/settings.py` calls `celery_broker_settings(os.environ)`, the tests call it
with plain dicts, and a bare Celery app (tests/e2e/support/mini_app.py) can use it too.

Defaults and why (measured facts in docs/sqs.md and bench/RESULTS.md):

- prefetch 4 (`WEFT_WORKER_PREFETCH`): with `acks_late` a worker stops fetching once it holds
  concurrency x prefetch unacknowledged messages. Measured on 500 chained trivial tasks: 1 -> 29 s,
  4 -> ~8 s, 16 -> ~6 s. 4 gets most of the gain while holding few messages hostage behind a slow
  step (a prefetched message's visibility timeout runs while it waits in the worker).
- polling interval 0.1 s (`WEFT_SQS_POLLING_INTERVAL`): kombu waits this long after an empty
  poll and whenever the prefetch window is full. It is a local timer, not an SQS call, so a short
  value costs nothing on a busy worker; on an idle worker the 20 s long poll dominates anyway.
  kombu's default (1 s) made chains of short steps crawl.
- visibility 300 s, long poll 20 s (the design's defaults; 20 is SQS's maximum).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlsplit

DEFAULT_QUEUE = "workflow-tasks"
DLQ_SUFFIX = "-dlq"
FIFO_SUFFIX = ".fifo"
MAX_RECEIVE_COUNT = 3
# moto's account; a real account id can be given with WEFT_SQS_ACCOUNT_ID.
DEFAULT_ACCOUNT_ID = "123456789012"
SQS_NAME_MAX = 80

# Credentials that boto3 can find by itself; any of them means "talk to AWS", not memory://.
_AWS_CREDENTIAL_HINTS = (
    "AWS_ACCESS_KEY_ID",
    "AWS_PROFILE",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
)
# kombu's SQS entity_name(): '.' becomes '-', other punctuation but '-' and '_' becomes '_'.
_UNSAFE = re.compile(r"[^A-Za-z0-9_\-]")


def sqs_safe_name(name: str) -> str:
    """The SQS name kombu derives from a Celery queue name (a `.fifo` suffix is kept)."""
    fifo = name.endswith(FIFO_SUFFIX)
    stem = name[: -len(FIFO_SUFFIX)] if fifo else name
    stem = _UNSAFE.sub(lambda m: "-" if m.group() == "." else "_", stem)
    return stem + (FIFO_SUFFIX if fifo else "")


def base_queue_name(option: str | None) -> str:
    """A definition's `options.queue` → base queue name (`None`/""/"default" → workflow-tasks)."""
    if not option or option == "default":
        return DEFAULT_QUEUE
    return option


@dataclasses.dataclass(frozen=True)
class SqsSettings:
    """Everything the broker plumbing needs, read once from the environment."""

    broker_url: str
    region: str = "us-east-1"
    endpoint_url: str | None = None
    access_key_id: str | None = dataclasses.field(default=None, repr=False)
    secret_access_key: str | None = dataclasses.field(default=None, repr=False)
    account_id: str | None = None
    prefix: str = ""
    fifo: bool = False
    visibility_timeout: int = 300
    wait_time: int = 20
    polling_interval: float = 0.1
    prefetch: int = 4
    extra_queues: tuple[str, ...] = ()
    max_receive_count: int = MAX_RECEIVE_COUNT
    # A worker whose queues are missing creates them (with their dead-letter queues) instead of
    # exiting with a line that says to run `manage.py weft_sqs_setup`.
    create_queues: bool = False

    @property
    def uses_sqs(self) -> bool:
        return self.broker_url.startswith("sqs://")

    @property
    def is_secure(self) -> bool:
        return not (self.endpoint_url or "").startswith("http://")

    # --- names ------------------------------------------------------------------------------
    @property
    def base_queues(self) -> tuple[str, ...]:
        names = [DEFAULT_QUEUE]
        names += [base_queue_name(q) for q in self.extra_queues if base_queue_name(q) not in names]
        return tuple(names)

    def celery_queue(self, base: str | None = None) -> str:
        """The name Celery uses (`apply_async(queue=)`, `worker -Q`): kombu adds the prefix."""
        name = base_queue_name(base)
        return name + FIFO_SUFFIX if self.fifo else name

    def sqs_queue(self, base: str | None = None) -> str:
        from workflows.sqs.queues import queue_name

        return queue_name(base_queue_name(base), prefix=self.prefix, fifo=self.fifo)

    def sqs_dead_letter_queue(self, base: str | None = None) -> str:
        from workflows.sqs.queues import dead_letter_queue_name

        return dead_letter_queue_name(base_queue_name(base), prefix=self.prefix, fifo=self.fifo)

    def queue_url(self, sqs_name: str) -> str | None:
        """The queue's URL when it can be known without asking SQS, else None."""
        if self.endpoint_url:
            account = self.account_id or DEFAULT_ACCOUNT_ID
            return f"{self.endpoint_url.rstrip('/')}/{account}/{sqs_name}"
        if self.account_id:
            return f"https://sqs.{self.region}.amazonaws.com/{self.account_id}/{sqs_name}"
        return None

    # --- clients ----------------------------------------------------------------------------
    def boto3_client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for `boto3.client("sqs", ...)` talking to the same SQS as Celery."""
        kwargs: dict[str, Any] = {"region_name": self.region}
        if self.endpoint_url:
            kwargs["endpoint_url"] = self.endpoint_url
        if self.access_key_id and self.secret_access_key:
            kwargs["aws_access_key_id"] = self.access_key_id
            kwargs["aws_secret_access_key"] = self.secret_access_key
        return kwargs

    # --- Celery -----------------------------------------------------------------------------
    def transport_options(self) -> dict[str, Any]:
        options: dict[str, Any] = {
            "region": self.region,
            "visibility_timeout": self.visibility_timeout,
            "wait_time_seconds": self.wait_time,
            "polling_interval": self.polling_interval,
            "queue_name_prefix": self.prefix,
            "is_secure": self.is_secure,
        }
        predefined = {}
        for base in self.base_queues:
            name = self.sqs_queue(base)
            url = self.queue_url(name)
            if url is None:
                break
            predefined[name] = {"url": url}
        if predefined:
            # Known URLs: kombu neither lists queues at start nor creates missing ones with its
            # own attributes (no redrive policy); `weft_sqs_setup` creates them properly.
            options["predefined_queues"] = predefined
        return options

    def celery_settings(self) -> dict[str, Any]:
        """Celery settings by their lowercase names (`CELERY_` + upper() in Django settings)."""
        settings: dict[str, Any] = {
            "broker_url": self.broker_url,
            "broker_connection_retry_on_startup": True,
            # At-least-once: delete the message only after the step ran, keep it on failure
            # so SQS redelivers it and, after 3 receives, moves it to the dead-letter queue.
            "task_acks_late": True,
            "task_acks_on_failure_or_timeout": False,
            "task_reject_on_worker_lost": True,
            "worker_prefetch_multiplier": self.prefetch,
            "task_default_queue": self.celery_queue(),
            # Celery declares queues named in `-Q`/`apply_async(queue=)`; with predefined_queues
            # kombu still refuses (UndefinedQueueException) a queue that was not configured.
            "task_create_missing_queues": True,
            "task_serializer": "json",
            "result_serializer": "json",
            "accept_content": ["json"],
            # Steps report through the database; no result backend traffic.
            "task_ignore_result": True,
            # SQS has no broadcast: remote control and events only leave stray queues.
            "worker_send_task_events": False,
            "task_send_sent_event": False,
            "worker_enable_remote_control": False,
        }
        if self.uses_sqs:
            settings["broker_transport_options"] = self.transport_options()
        return settings


def _get(environ: Mapping[str, str], name: str, default: str = "") -> str:
    value = environ.get(name)
    return value.strip() if value not in (None, "") else default


def get_bool(environ: Mapping[str, str], name: str, default: bool) -> bool:
    raw = _get(environ, name)
    return default if raw == "" else raw.lower() in {"1", "true", "yes", "on"}


def _get_number(environ: Mapping[str, str], name: str, default, kind, low, high):
    raw = _get(environ, name)
    if raw == "":
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a number") from None
    if not low <= value <= high:
        raise ValueError(f"{name}={raw} is out of range [{low}, {high}]")
    return value


def _endpoint_host(endpoint: str) -> str:
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"AWS_ENDPOINT_URL_SQS={endpoint!r} must be http(s)://host[:port]")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{host}:{parts.port}" if parts.port else host


def sqs_settings(environ: Mapping[str, str]) -> SqsSettings:
    endpoint = _get(environ, "AWS_ENDPOINT_URL_SQS").rstrip("/") or None
    key = _get(environ, "AWS_ACCESS_KEY_ID") or None
    secret = _get(environ, "AWS_SECRET_ACCESS_KEY") or None
    region = _get(environ, "AWS_REGION") or _get(environ, "AWS_DEFAULT_REGION", "us-east-1")

    broker_url = _get(environ, "CELERY_BROKER_URL")
    if not broker_url:
        if endpoint:
            # kombu has no endpoint option: the endpoint is the broker URL's host.
            creds = f"{quote(key, safe='')}:{quote(secret, safe='')}@" if key and secret else ""
            broker_url = f"sqs://{creds}{_endpoint_host(endpoint)}"
        elif any(_get(environ, hint) for hint in _AWS_CREDENTIAL_HINTS):
            # Real AWS: boto3 finds the credentials (keys, session token, profile, role) itself.
            broker_url = "sqs://"
        else:
            broker_url = "memory://"

    prefix = _get(environ, "WEFT_QUEUE_PREFIX")
    extra = tuple(q.strip() for q in _get(environ, "WEFT_SQS_QUEUES").split(",") if q.strip())
    return SqsSettings(
        broker_url=broker_url,
        region=region,
        endpoint_url=endpoint,
        access_key_id=key,
        secret_access_key=secret,
        account_id=_get(environ, "WEFT_SQS_ACCOUNT_ID") or None,
        prefix=prefix,
        fifo=get_bool(environ, "WEFT_SQS_FIFO", False),
        visibility_timeout=_get_number(environ, "WEFT_SQS_VISIBILITY_TIMEOUT", 300, int, 0, 43_200),
        wait_time=_get_number(environ, "WEFT_SQS_WAIT_TIME", 20, int, 0, 20),
        polling_interval=_get_number(environ, "WEFT_SQS_POLLING_INTERVAL", 0.1, float, 0, 60),
        prefetch=_get_number(environ, "WEFT_WORKER_PREFETCH", 4, int, 1, 1000),
        extra_queues=extra,
        create_queues=get_bool(environ, "WEFT_SQS_CREATE_QUEUES", False),
    )


def celery_broker_settings(environ: Mapping[str, str]) -> dict[str, Any]:
    """Celery settings (lowercase names) for the broker described by `environ`."""
    return sqs_settings(environ).celery_settings()
