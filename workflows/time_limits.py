"""Stopping a task activity at its timeout, before its retry is scheduled.

A worker runs a step's task in the main thread of its process (a prefork pool child, or the
solo pool). There the timeout is an interval timer (`setitimer`, SIGALRM) whose handler raises
`TimeoutError` inside the activity (retryable; the type incidents have always shown): sleeps,
socket waits and Python code are interrupted at once (PEP 475), the activity unwinds through
its own `finally` blocks, and the retry step is written only after it has returned. Should the
activity swallow the exception, the timer fires again every second. It costs two system calls
per task, and the activity runs in the thread whose log context (step, instance, definition,
correlation id) is already bound.

Code that never returns to the interpreter (a C extension holding the GIL) cannot be stopped
this way; Celery's hard time limit (`--time-limit`) is the backstop for that, at the price of
the pool child. Elsewhere (a thread pool, or a caller in another thread) signals cannot reach
the activity: it runs in a helper thread that is abandoned at the timeout, as before, but with
the caller's log context copied into it.
"""

import contextvars
import signal
import threading

import structlog
from django.db import close_old_connections

logger = structlog.get_logger(__name__)


def call_with_time_limit(function, timeout: float | None):
    if not timeout:
        return function()
    if threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer"):
        return _interrupting(function, timeout)
    return _abandoning(function, timeout)


def _interrupting(function, timeout: float):
    armed, fired = [True], []
    message = f"activity did not finish within {timeout} seconds"

    def expired(signum, frame):
        if armed[0]:
            fired.append(True)
            raise TimeoutError(message)

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, timeout, 1.0)
    try:
        try:
            value = function()
        finally:
            armed[0] = False
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    if fired:  # it swallowed the interruption: still a timeout, not a result
        raise TimeoutError(message)
    return value


def _abandoning(function, timeout: float):
    outcome: dict = {}
    context = contextvars.copy_context()

    def target() -> None:
        try:
            outcome["value"] = context.run(function)
        except BaseException as exc:
            outcome["error"] = exc
        finally:
            close_old_connections()

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        logger.warning("activity_timeout_not_stoppable", timeout=timeout,
                       reason="not on a worker's main thread")
        raise TimeoutError(f"activity did not finish within {timeout} seconds")
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")
