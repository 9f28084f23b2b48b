"""Messages received three times without being deleted reach the dead-letter queue, where the
helpers read back the Celery task inside them."""

import time

import pytest

from tests.e2e.support.fixtures import (
    celery_publisher,
    ensure_test_queues,
    sqs_client,
    sqs_env,
    unique_prefix,
)
from tests.e2e.support.workers import start_celery_worker, stop_worker
from workflows.sqs.config import sqs_settings
from workflows.sqs.queues import decode_celery_message, delete_message, receive_dead_letters


def wait_for_dead_letters(client, dlq_url, count=1, timeout=20.0):
    deadline = time.monotonic() + timeout
    letters = []
    while time.monotonic() < deadline:
        letters += receive_dead_letters(client, dlq_url, wait=1)
        if len(letters) >= count:
            return letters
    raise AssertionError(f"{len(letters)} dead letters after {timeout}s, expected {count}")


@pytest.fixture
def env(local_sqs):
    env = sqs_env(local_sqs, WEFT_QUEUE_PREFIX=unique_prefix(), WEFT_SQS_VISIBILITY_TIMEOUT="1")
    ensure_test_queues(env)
    return env


def test_message_received_three_times_goes_to_the_dlq_and_decodes(env):
    settings = sqs_settings(env)
    client = sqs_client(env)
    queue_url = client.get_queue_url(QueueName=settings.sqs_queue())["QueueUrl"]
    dlq_url = client.get_queue_url(QueueName=settings.sqs_dead_letter_queue())["QueueUrl"]
    publisher = celery_publisher(env)
    sent = publisher.send_task("weft.run_step", args=["step-42"], kwargs={"attempt": 2})

    for _ in range(3):  # a worker that keeps crashing: received, never deleted
        received = client.receive_message(
            QueueUrl=queue_url, WaitTimeSeconds=1, VisibilityTimeout=0
        )
        assert len(received.get("Messages", [])) == 1
    assert client.receive_message(QueueUrl=queue_url, WaitTimeSeconds=0).get("Messages") is None

    [letter] = wait_for_dead_letters(client, dlq_url)
    assert letter["attributes"]["ApproximateReceiveCount"] >= 3
    assert letter["attributes"]["SentTimestamp"] > 0
    task = decode_celery_message(letter["body"])
    assert task["task"] == "weft.run_step"
    assert task["id"] == sent.id
    assert task["args"] == ["step-42"]
    assert task["kwargs"] == {"attempt": 2}
    assert task["headers"]["retries"] == 0
    assert task["properties"]["delivery_info"]["routing_key"] == "workflow-tasks"

    delete_message(client, dlq_url, letter["receipt_handle"])
    time.sleep(1.2)  # past the dead letter's visibility timeout: it would be back if not deleted
    assert receive_dead_letters(client, dlq_url, wait=0) == []


def test_decode_accepts_plain_json_bodies():
    import base64
    import json

    inner = base64.b64encode(json.dumps([[7], {}, {}]).encode()).decode()
    envelope = {
        "body": inner,
        "content-type": "application/json",
        "headers": {"task": "t", "id": "i"},
        "properties": {"body_encoding": "base64"},
    }
    body = json.dumps(envelope)  # sqs_base64_encoding=False
    assert decode_celery_message(body)["args"] == [7]
    assert decode_celery_message(base64.b64encode(body.encode()))["task"] == "t"
    with pytest.raises(ValueError):
        decode_celery_message("not a message")


def test_a_task_that_keeps_failing_in_a_real_worker_reaches_the_dlq(env, tmp_path):
    client = sqs_client(env)
    settings = sqs_settings(env)
    dlq_url = client.get_queue_url(QueueName=settings.sqs_dead_letter_queue())["QueueUrl"]
    worker = start_celery_worker(
        env, app="tests.e2e.support.mini_app", concurrency=1, log_path=tmp_path / "worker.log"
    )
    try:
        sent = celery_publisher(env).send_task("mini.fail", args=[7])
        [letter] = wait_for_dead_letters(client, dlq_url, timeout=20)
    finally:
        stop_worker(worker)

    task = decode_celery_message(letter["body"])
    assert (task["task"], task["id"], task["args"]) == ("mini.fail", sent.id, [7])
    assert letter["attributes"]["ApproximateReceiveCount"] >= 3
    assert (tmp_path / "worker.log").read_text().count("step 7 fails on purpose") >= 3
