"""Keep Celery workers alive when SQS answers a ReceiveMessage with an error (kombu 5.7.0 bug).

Why the worker dies (kombu 5.7.0, read in its source and reproduced against a proxy):

1. The worker polls with kombu's async client: `Channel._get_async` sends ReceiveMessage and
   chains `transform(Channel._on_messages_ready, ...)` onto the response.
2. `AsyncAWSQueryConnection._on_list_ready` (kombu/asynchronous/aws/connection.py) parses a 200
   into a dict `{"Messages": [...]}`, but for a server error or timeout (500, 502, 503, 408,
   504, and 599, which is what the curl client reports when it cannot connect at all) it returns
   `[]`, "interpreted as an empty list".
3. `Channel._on_messages_ready` (kombu/transport/SQS/__init__.py) does `messages.get("Messages")`
   on that `[]`: AttributeError inside the event loop, which Celery treats as fatal:
   "Unrecoverable error: AttributeError("'list' object has no attribute 'get'")", exit code 1.

So one 503 from SQS, or a moment when the endpoint refuses connections, stops the worker.
A related exit: any other error answer (4xx) makes `_on_list_ready` raise, which is just as
fatal ("Unrecoverable error: Exception('Request HTTP Error  HTTP 400 ... QueueDoesNotExist')").
That is right for a misconfiguration (AccessDenied, a bad signature), but not for a queue that is
briefly missing (a restarted local server before `ensure_queues`, an operator re-creating it) or
for throttling.

The guard is two wrappers:

- `Channel._on_messages_ready`: a non-dict answer counts as a poll that found no messages
  (returns 0). kombu's loop then waits `polling_interval` and polls again, exactly as after an
  empty long poll. This is the fix for the 5xx/408/599 crash.
- `AsyncAWSQueryConnection._on_list_ready`, for ReceiveMessage only: logs every error answer
  (rate-limited) and turns "queue does not exist" and throttling answers into the same empty
  poll; every other 4xx still raises as in kombu, so a misconfigured worker still stops.

Well-formed answers go to kombu's code unchanged, so the guard is harmless on a kombu that has
fixed the bug. It is installed on any kombu whose methods still have the same parameters, and
logs the kombu version it patched.

`WEFT_KOMBU_SQS_GUARD=0` skips it (only to check whether a newer kombu still needs it: see
tests/integration/sqs/test_kombu_guard.py).
"""

from __future__ import annotations

import functools
import inspect
import logging
import os
import threading
import time
from collections.abc import Mapping

logger = logging.getLogger("weft.sqs")

VERIFIED_KOMBU_VERSIONS = ("5.7.0",)
_MESSAGES_READY_PARAMETERS = ["self", "queue", "qname", "messages"]
_LIST_READY_PARAMETERS = ["self", "parent", "markers", "operation", "response"]
# Error codes (SQS JSON `__type` suffix or XML `<Code>`) worth polling again for.
_TRANSIENT_CLIENT_ERRORS = (
    b"QueueDoesNotExist",
    b"NonExistentQueue",
    b"Throttl",  # ThrottlingException, RequestThrottled
    b"OverLimit",
)
_WARN_EVERY_SECONDS = 60.0
_lock = threading.Lock()


class _ErrorPollCounter:
    """Counts error answers; warns once a minute per kind so an outage does not flood the log."""

    def __init__(self) -> None:
        self.total = 0
        self._unreported = 0
        self._last_warning = 0.0
        self._last_kind: list[str] = []
        self._lock = threading.Lock()

    def record(self, what: str) -> None:
        kind = what.split(" ", 2)[:2]  # "HTTP 503": a new kind of error is reported at once
        with self._lock:
            self.total += 1
            self._unreported += 1
            now = time.monotonic()
            recent = self._last_warning and now - self._last_warning < _WARN_EVERY_SECONDS
            if recent and kind == self._last_kind:
                return
            count, self._unreported, self._last_warning = self._unreported, 0, now
            self._last_kind = kind
        logger.warning(
            "SQS ReceiveMessage failed: %s (%d error answers since the last report); "
            "treated as an empty poll, polling again",
            what,
            count,
        )


error_polls = _ErrorPollCounter()


def _guard_messages_ready(original):
    @functools.wraps(original)
    def _on_messages_ready(self, queue, qname, messages):
        if not isinstance(messages, Mapping):
            # kombu's error sentinel ([]): nothing was received (logged by _on_list_ready).
            return 0
        return original(self, queue, qname, messages)

    _on_messages_ready.weft_guard = True
    return _on_messages_ready


def _guard_list_ready(original):
    @functools.wraps(original)
    def _on_list_ready(self, parent, markers, operation, response):
        status = getattr(response, "status", None)
        if operation != "ReceiveMessage" or status == self.STATUS_CODE_OK:
            return original(self, parent, markers, operation, response)
        body = response.read() or b""
        if isinstance(body, str):
            body = body.encode()
        if status in self.STATUS_CODES_SERVER_ERRORS or status in self.STATUS_CODES_TIMEOUT:
            reason = getattr(response, "reason", "") or ""
            error_polls.record(f"HTTP {status} {reason}".strip())
            return []
        if any(code in body for code in _TRANSIENT_CLIENT_ERRORS):
            error_polls.record(f"HTTP {status} {body[:200]!r}")
            return []
        return original(self, parent, markers, operation, response)

    _on_list_ready.weft_guard = True
    return _on_list_ready


def _patch(owner, name: str, parameters: list[str], wrapper, version: str) -> bool:
    current = getattr(owner, name, None)
    if current is None:
        logger.warning(
            "kombu %s: %s.%s is gone; guard not installed", version, owner.__name__, name
        )
        return False
    if getattr(current, "weft_guard", False):
        return True
    found = list(inspect.signature(current).parameters)
    if found != parameters:
        logger.warning(
            "kombu %s: unexpected %s.%s%s; guard not installed",
            version,
            owner.__name__,
            name,
            tuple(found),
        )
        return False
    setattr(owner, name, wrapper(current))
    return True


def install_kombu_sqs_guard(enabled: bool | None = None) -> bool:
    """Patch kombu's SQS channel once; returns True when the guard is in place."""
    if enabled is None:
        enabled = os.environ.get("WEFT_KOMBU_SQS_GUARD", "1").strip().lower() not in {
            "0",
            "false",
            "no",
            "off",
        }
    if not enabled:
        logger.warning("kombu SQS guard disabled (WEFT_KOMBU_SQS_GUARD=0)")
        return False
    try:
        import kombu
        from kombu.asynchronous.aws.connection import AsyncAWSQueryConnection
        from kombu.transport.SQS import Channel
    except ImportError:  # boto3 missing: no SQS transport, nothing to guard
        return False
    version = kombu.__version__
    with _lock:
        installed = _patch(
            Channel, "_on_messages_ready", _MESSAGES_READY_PARAMETERS, _guard_messages_ready,
            version,
        )  # fmt: skip
        if not installed:
            return False
        # Optional half: without it 5xx answers are still survived, only not logged.
        _patch(
            AsyncAWSQueryConnection, "_on_list_ready", _LIST_READY_PARAMETERS,
            _guard_list_ready, version,
        )  # fmt: skip
    if version in VERIFIED_KOMBU_VERSIONS:
        logger.info("kombu %s: SQS receive-error guard installed", version)
    else:
        logger.warning(
            "kombu %s: SQS receive-error guard installed but only verified on %s; "
            "check whether this kombu still needs it",
            version,
            ", ".join(VERIFIED_KOMBU_VERSIONS),
        )
    return True


def kombu_sqs_guard_installed() -> bool:
    try:
        from kombu.transport.SQS import Channel
    except ImportError:
        return False
    return bool(getattr(Channel._on_messages_ready, "weft_guard", False))
