"""`workflows.time_limits`: a task activity is stopped at its timeout on a worker's main thread,
and its log context follows it wherever it runs (issue 8, hole 12). The real-process check
is tests/e2e/test_activity_timeouts.py."""

import threading
import time

import pytest
import structlog

from workflows.time_limits import call_with_time_limit


def test_an_activity_is_interrupted_at_its_timeout_and_unwinds_before_the_caller_goes_on():
    events = []

    def runaway():
        try:
            time.sleep(30)
        finally:
            events.append("unwound")

    with pytest.raises(TimeoutError):
        call_with_time_limit(runaway, 0.2)
    events.append("caller")
    assert events == ["unwound", "caller"]


def test_an_activity_that_swallows_the_timeout_is_interrupted_again():
    caught = []

    def stubborn():
        for _ in range(3):
            try:
                time.sleep(30)
            except TimeoutError:
                caught.append(time.monotonic())
        return "never"

    with pytest.raises(TimeoutError):
        call_with_time_limit(stubborn, 0.1)
    assert len(caught) == 3


def test_a_result_within_the_timeout_is_returned_and_no_alarm_is_left_behind():
    assert call_with_time_limit(lambda: 42, 0.3) == 42
    time.sleep(0.5)  # an alarm left armed would raise here


def test_off_the_main_thread_the_log_context_follows_the_activity():
    seen = {}

    def caller():
        with structlog.contextvars.bound_contextvars(step_id="s-1", instance_id="i-1"):
            seen.update(call_with_time_limit(structlog.contextvars.get_contextvars, 5))

    thread = threading.Thread(target=caller)
    thread.start()
    thread.join()
    assert seen == {"step_id": "s-1", "instance_id": "i-1"}
