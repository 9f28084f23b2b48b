"""Acknowledged messages are deleted in batches, off the worker's event loop
(workflows/sqs/batched_acks.py): against the local SQS server, and by real `celery worker`
processes whose every SQS request goes through a recording proxy."""

import time

import pytest

from tests.e2e.support.fixtures import (
    celery_publisher,
    ensure_test_queues,
    sqs_client,
    sqs_env,
    unique_prefix,
)
from tests.e2e.support.proxy import FlakyProxy
from tests.e2e.support.workers import read_log, start_celery_worker, stop_worker
from workflows.sqs.batched_acks import AckBatcher, batched_acks_installed, install_batched_acks

MINI_APP = "tests.e2e.support.mini_app"


def _left_in_queue(client, url) -> int:
    """Messages still in the queue, visible or received and not deleted."""
    attributes = client.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages",
                                      "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
    return sum(int(value) for value in attributes.values())


def _wait_for_lines(path, count, timeout=30.0) -> list[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and len(path.read_text().splitlines()) >= count:
            return path.read_text().splitlines()
        time.sleep(0.1)
    raise AssertionError(f"{len(path.read_text().splitlines()) if path.exists() else 0} of "
                         f"{count} tasks ran within {timeout}s")


def _wait_empty(client, url, timeout=10.0) -> int:
    deadline = time.monotonic() + timeout
    while (left := _left_in_queue(client, url)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def test_install_is_idempotent():
    assert install_batched_acks() is True
    assert install_batched_acks() is True
    assert batched_acks_installed()


def test_the_batcher_deletes_every_handle_in_requests_of_up_to_ten(local_sqs):
    env = sqs_env(local_sqs, WEFT_QUEUE_PREFIX=unique_prefix())
    client = sqs_client(env)
    url = client.create_queue(QueueName=f"{env['WEFT_QUEUE_PREFIX']}acks")["QueueUrl"]
    for n in range(25):
        client.send_message(QueueUrl=url, MessageBody=f"m{n}")
    handles = []
    while len(handles) < 25:
        answer = client.receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                        VisibilityTimeout=300, WaitTimeSeconds=1)
        handles += [m["ReceiptHandle"] for m in answer.get("Messages", [])]
    batcher = AckBatcher(linger=0.05)
    for handle in handles:
        batcher.add(client, url, handle)

    assert batcher.flush(timeout=10)

    assert _left_in_queue(client, url) == 0  # received, not visible: only a delete empties it
    assert batcher.deleted == 25 and batcher.failed == 0
    assert 3 <= batcher.requests <= 6, batcher.requests


def test_a_refused_delete_is_counted_and_the_batcher_goes_on(local_sqs):
    env = sqs_env(local_sqs, WEFT_QUEUE_PREFIX=unique_prefix())
    client = sqs_client(env)
    url = client.create_queue(QueueName=f"{env['WEFT_QUEUE_PREFIX']}acks")["QueueUrl"]
    client.send_message(QueueUrl=url, MessageBody="real")
    real = client.receive_message(QueueUrl=url, VisibilityTimeout=300,
                                  WaitTimeSeconds=1)["Messages"][0]["ReceiptHandle"]
    batcher = AckBatcher(linger=0)
    batcher.add(client, f"{url}-gone", "no-such-handle")  # the queue does not exist
    batcher.add(client, url, real)

    assert batcher.flush(timeout=10)

    assert batcher.failed == 1 and batcher.deleted == 1
    assert _left_in_queue(client, url) == 0


@pytest.mark.parametrize("batched", [True, False])
def test_a_worker_deletes_what_it_ran_in_batches_unless_told_not_to(local_sqs, tmp_path,
                                                                    batched):
    prefix = unique_prefix()
    direct = sqs_env(local_sqs, WEFT_QUEUE_PREFIX=prefix)
    urls = ensure_test_queues(direct)
    out = tmp_path / "pings.txt"
    with FlakyProxy(local_sqs.url) as proxy:
        worker_env = sqs_env(proxy.url, WEFT_QUEUE_PREFIX=prefix,
                             WEFT_SQS_BATCHED_ACKS="1" if batched else "0")
        worker = start_celery_worker(worker_env, app=MINI_APP, concurrency=4,
                                     log_path=tmp_path / "worker.log")
        try:
            publisher = celery_publisher(direct)
            for n in range(40):
                publisher.send_task("mini.ping", args=[str(out), f"ping-{n}"])
            lines = _wait_for_lines(out, 40)
            client = sqs_client(direct)
            left = {name: _wait_empty(client, url) for name, url in urls.items()}
            assert worker.poll() is None, read_log(worker)[-3000:]
        finally:
            stop_worker(worker)
        actions = list(proxy.actions)

    assert sorted(line.split()[0] for line in lines) == sorted(f"ping-{n}" for n in range(40))
    assert not any(left.values()), left  # every message ran once and is gone from SQS
    singles, batches = actions.count("DeleteMessage"), actions.count("DeleteMessageBatch")
    if batched:
        assert singles == 0 and 1 <= batches < 40, (singles, batches)
    else:
        assert singles == 40 and batches == 0, (singles, batches)
