"""pytest fixtures and environment helpers for tests against a local SQS server."""

from __future__ import annotations

import os
import tempfile
import uuid
from pathlib import Path

import pytest

from workflows.sqs.config import sqs_settings
from workflows.sqs.local_server import LocalSqsServer, start_local_sqs

# One prefix per test session, so queues left on a shared server never collide across runs.
SESSION_PREFIX = f"t{uuid.uuid4().hex[:6]}-"

# Inherited variables that would point a subprocess at another broker or queue set.
_SCRUBBED_PREFIXES = ("AWS_", "WEFT_SQS_", "WEFT_QUEUE_PREFIX", "WEFT_WORKER_", "CELERY_")


# Shares no run of characters with the generated user names ("e2e-<hex>-user"), so Django's
# "too similar to the username" validator can never reject it, whatever the random hex is.
E2E_PASSWORD = "Quiet-Harbor-Lantern-7!"


def unique_prefix() -> str:
    """A fresh queue prefix, for a test that needs queues nobody else touched."""
    return f"{SESSION_PREFIX}{uuid.uuid4().hex[:6]}-"


def sqs_env(local_sqs: LocalSqsServer | str, **overrides: str | None) -> dict[str, str]:
    """A complete environment for a subprocess (worker, manage.py) using the local SQS server.

    Fake credentials, the server as AWS_ENDPOINT_URL_SQS (or any URL given instead, e.g. a
    FlakyProxy's), this session's queue prefix, a 10 s visibility timeout and 1 s long polls so
    redeliveries and shutdowns are quick, and Django's test settings. `overrides` win; None
    removes a variable.
    """
    endpoint = local_sqs if isinstance(local_sqs, str) else local_sqs.url
    env = {k: v for k, v in os.environ.items() if not k.startswith(_SCRUBBED_PREFIXES)}
    env.update(
        {
            "AWS_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_ENDPOINT_URL_SQS": endpoint,
            "WEFT_QUEUE_PREFIX": SESSION_PREFIX,
            "WEFT_SQS_VISIBILITY_TIMEOUT": "10",
            "WEFT_SQS_WAIT_TIME": "1",
            "WEFT_SQS_POLLING_INTERVAL": "0.1",
            "DJANGO_SETTINGS_MODULE": "config.settings_test",
            "PYTHONUNBUFFERED": "1",
        }
    )
    for name, value in overrides.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = str(value)
    return env


def sqs_client(env: dict[str, str]):
    """A boto3 SQS client for the server and credentials in `env`."""
    import boto3

    return boto3.client("sqs", **sqs_settings(env).boto3_client_kwargs())


def celery_publisher(env: dict[str, str], name: str = "publisher"):
    """A bare Celery app that publishes to the broker described by `env` (`send_task`)."""
    from celery import Celery

    from workflows.sqs.config import celery_broker_settings

    app = Celery(name, set_as_current=False)
    app.conf.update(celery_broker_settings(env))
    return app


def ensure_test_queues(env: dict[str, str], *extra: str) -> dict[str, str]:
    """Create the queues (and DLQs) `env` describes; again after a local server restart."""
    from workflows.sqs.queues import ensure_queues_for

    return ensure_queues_for(sqs_settings(env), client=sqs_client(env), extra=extra)


@pytest.fixture(scope="session")
def local_sqs():
    """A moto SQS server on a free port for the whole session (its log in the temp dir)."""
    log_dir = Path(tempfile.gettempdir()) / "weft-e2e-logs"
    log_dir.mkdir(exist_ok=True)
    server = start_local_sqs(log_path=log_dir / f"moto-{SESSION_PREFIX.rstrip('-')}.log")
    try:
        yield server
    finally:
        server.kill()
