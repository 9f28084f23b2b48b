"""A throwaway Celery app for broker tests that must not depend on Django or Weft's tasks.

`celery -A tests.e2e.support.mini_app worker` with the environment from `sqs_env(...)`. Its
broker settings come from the same `celery_broker_settings` as the real app, and it installs the
kombu guard unless WEFT_KOMBU_SQS_GUARD=0 (which the guard's honesty test uses), and the
batched deletes unless WEFT_SQS_BATCHED_ACKS=0.
"""

import os
import time

from celery import Celery

from workflows.sqs.batched_acks import install_batched_acks
from workflows.sqs.config import celery_broker_settings
from workflows.sqs.kombu_guard import install_kombu_sqs_guard

app = Celery("mini")
app.conf.update(celery_broker_settings(os.environ))
install_kombu_sqs_guard()
install_batched_acks()  # as config/celery.py does


@app.task(name="mini.ping")
def ping(path: str, token: str) -> None:
    """Append one line to `path`: what the test counts."""
    with open(path, "a") as handle:
        handle.write(f"{token} {time.time():.3f} {os.getpid()}\n")


@app.task(name="mini.fail")
def fail(step_id: int) -> None:
    """Always fails: with acks_late and no ack on failure, SQS redelivers it until the DLQ."""
    raise RuntimeError(f"step {step_id} fails on purpose")
