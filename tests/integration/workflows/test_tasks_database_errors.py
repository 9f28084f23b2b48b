"""A database outage while a worker runs a step: the message is sent again after a short
backoff (never dead-lettered for it); the step runs when the database is back."""

import pytest
from celery.exceptions import Retry
from django.db import OperationalError

from workflows import tasks


class FlakyDatabase:
    """`step_process` that finds the database away for the first `failures` calls."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls: list[str] = []

    def __call__(self, *, step_id, worker):
        self.calls.append(step_id)
        if len(self.calls) <= self.failures:
            raise OperationalError("server closed the connection unexpectedly")
        return "ran"


def test_run_step_is_retried_with_a_short_backoff(monkeypatch):
    sent = []
    monkeypatch.setattr(tasks, "step_process", FlakyDatabase(failures=1))
    monkeypatch.setattr(tasks.process_step, "retry",
                        lambda **kwargs: sent.append(kwargs) or Retry("again", when=1))
    with pytest.raises(Retry):
        tasks.process_step.run("step-1")
    assert sent[0]["countdown"] == 1 and sent[0]["max_retries"] is None
    assert isinstance(sent[0]["exc"], OperationalError)
    assert tasks.process_step.run("step-1") == "ran"


def test_backoff_doubles_up_to_a_minute(monkeypatch):
    countdowns = []
    monkeypatch.setattr(tasks, "step_process", FlakyDatabase(failures=100))
    monkeypatch.setattr(tasks.process_step, "retry",
                        lambda **kwargs: countdowns.append(kwargs["countdown"]) or Retry())
    for retries in range(9):
        tasks.process_step.push_request(retries=retries)
        try:
            with pytest.raises(Retry):
                tasks.process_step.run("step-1")
        finally:
            tasks.process_step.pop_request()
    assert countdowns == [1, 2, 4, 8, 16, 32, 60, 60, 60]


def test_a_shared_message_is_retried_whole(monkeypatch):
    flaky = FlakyDatabase(failures=2)
    sent = []
    monkeypatch.setattr(tasks, "step_process", flaky)
    monkeypatch.setattr(tasks.process_steps, "retry",
                        lambda **kwargs: sent.append(kwargs) or Retry())
    with pytest.raises(Retry):
        tasks.process_steps.run(["a", "b"])
    assert flaky.calls == ["a"] and len(sent) == 1
    with pytest.raises(Retry):
        tasks.process_steps.run(["a", "b"])
    assert tasks.process_steps.run(["a", "b"]) == ["ran", "ran"]
