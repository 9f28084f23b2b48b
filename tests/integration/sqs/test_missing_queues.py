"""Issue 8 hole 16: a worker started before its queues exist either creates them (when
`WEFT_SQS_CREATE_QUEUES=1`) or exits with one line saying to run `manage.py weft_sqs_setup`;
`/readyz` says the same."""

import json
import time

import pytest

from tests.e2e.support.fixtures import sqs_client, sqs_env, unique_prefix
from tests.e2e.support.workers import read_log, start_celery_worker, stop_worker
from workflows.sqs.config import sqs_settings

SETUP_HINT = "python manage.py weft_sqs_setup"


@pytest.fixture
def env(local_sqs, settings):
    environment = sqs_env(local_sqs, WEFT_QUEUE_PREFIX=unique_prefix(),
                          DATABASE_URL=_database_url(settings))
    return environment


def _database_url(settings) -> str:
    db = settings.DATABASES["default"]
    return f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


def _wait_exit(proc, timeout: float = 60) -> int | None:
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    return proc.poll()


def _messages(log: str) -> list[str]:
    """The log's lines as text (the JSON ones by their event)."""
    lines = []
    for line in log.splitlines():
        try:
            lines.append(str(json.loads(line).get("event", line)))
        except ValueError:
            lines.append(line)
    return lines


def test_a_worker_without_its_queues_exits_with_one_line_naming_the_setup_command(env):
    worker = start_celery_worker(env, wait_ready=False)
    try:
        assert _wait_exit(worker) not in (None, 0)
        log = read_log(worker)
    finally:
        stop_worker(worker)
    assert "Traceback" not in log and "QueueDoesNotExist" not in log, log[-2000:]
    hints = [line for line in _messages(log) if SETUP_HINT in line]
    assert len(hints) == 1, log[-2000:]
    assert sqs_settings(env).sqs_queue() in hints[0]


def test_a_worker_allowed_to_create_its_queues_creates_them_with_dead_letter_queues(env):
    env = {**env, "WEFT_SQS_CREATE_QUEUES": "1"}
    worker = start_celery_worker(env)  # waits until it is consuming
    try:
        client = sqs_client(env)
        sqs = sqs_settings(env)
        url = client.get_queue_url(QueueName=sqs.sqs_queue())["QueueUrl"]
        attributes = client.get_queue_attributes(QueueUrl=url,
                                                 AttributeNames=["All"])["Attributes"]
        assert sqs.sqs_dead_letter_queue() in json.loads(
            attributes["RedrivePolicy"])["deadLetterTargetArn"]
    finally:
        stop_worker(worker)


@pytest.mark.django_db
def test_readyz_says_which_queues_are_missing_and_what_to_run(env, settings, anonymous):
    settings.WEFT_SQS = sqs_settings(env)
    response = anonymous.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["checks"]["queues"] == "missing"
    assert SETUP_HINT in body["message"] and settings.WEFT_SQS.sqs_queue() in body["message"]
    from tests.e2e.support.fixtures import ensure_test_queues

    ensure_test_queues(env)
    ready = anonymous.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"]["queues"] == "ok"
