"""A real worker consumes the queues the settings describe."""

import time

from tests.e2e.support.fixtures import celery_publisher, ensure_test_queues, sqs_env, unique_prefix
from tests.e2e.support.workers import start_celery_worker, stop_worker


def test_worker_runs_tasks_from_a_prefixed_fifo_queue(local_sqs, tmp_path):
    env = sqs_env(local_sqs, WEFT_QUEUE_PREFIX=unique_prefix(), WEFT_SQS_FIFO="1")
    urls = ensure_test_queues(env)
    assert all(url.endswith(".fifo") for url in urls.values())
    out = tmp_path / "pings.txt"
    worker = start_celery_worker(
        env, app="tests.e2e.support.mini_app", concurrency=1, log_path=tmp_path / "worker.log"
    )
    try:
        publisher = celery_publisher(env)
        for i in range(3):
            publisher.send_task("mini.ping", args=[str(out), f"ping-{i}"], MessageGroupId="g1")
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and (
            not out.exists() or len(out.read_text().splitlines()) < 3
        ):
            time.sleep(0.1)
    finally:
        stop_worker(worker)

    # One message group: delivered and run in order.
    assert [line.split()[0] for line in out.read_text().splitlines()] == [
        "ping-0",
        "ping-1",
        "ping-2",
    ]
