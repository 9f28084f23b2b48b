"""Workers survive error answers from SQS (kombu 5.7.0 exits on them; see kombu_guard.py).

Real `celery worker` processes consume through a FlakyProxy in front of the local SQS server,
and publishers talk to the server directly."""

import time

import pytest

from tests.e2e.support.fixtures import (
    celery_publisher,
    ensure_test_queues,
    sqs_env,
    unique_prefix,
)
from tests.e2e.support.proxy import FlakyProxy
from tests.e2e.support.workers import read_log, start_celery_worker, stop_worker
from workflows.sqs.kombu_guard import install_kombu_sqs_guard, kombu_sqs_guard_installed
from workflows.sqs.local_server import start_local_sqs

MINI_APP = "tests.e2e.support.mini_app"
KOMBU_CRASH = "Unrecoverable error: AttributeError(\"'list' object has no attribute 'get'\")"
KOMBU_TRACE_LINE = "in _on_messages_ready\n    msgs = messages.get('Messages')"


def wait_for_lines(path, count, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and len(path.read_text().splitlines()) >= count:
            return path.read_text().splitlines()
        time.sleep(0.1)
    found = path.read_text().splitlines() if path.exists() else []
    raise AssertionError(f"{len(found)} of {count} tasks ran within {timeout}s")


@pytest.fixture
def flaky(local_sqs):
    """(proxy answering 503 to every 3rd ReceiveMessage, worker env via proxy, publisher env)."""
    prefix = unique_prefix()
    direct = sqs_env(local_sqs, WEFT_QUEUE_PREFIX=prefix)
    ensure_test_queues(direct)
    with FlakyProxy(local_sqs.url, fail_every=3) as proxy:
        yield proxy, sqs_env(proxy.url, WEFT_QUEUE_PREFIX=prefix), direct


def test_install_is_idempotent():
    assert install_kombu_sqs_guard() is True
    assert install_kombu_sqs_guard() is True
    assert kombu_sqs_guard_installed()


def test_worker_survives_503s_and_keeps_running_tasks(flaky, tmp_path):
    proxy, worker_env, direct = flaky
    out = tmp_path / "pings.txt"
    worker = start_celery_worker(worker_env, app=MINI_APP, log_path=tmp_path / "worker.log")
    try:
        publisher = celery_publisher(direct)
        started = time.monotonic()
        sent = 0
        while time.monotonic() - started < 10:
            publisher.send_task("mini.ping", args=[str(out), f"ping-{sent}"])
            sent += 1
            time.sleep(0.5)
            assert worker.poll() is None, read_log(worker)[-3000:]

        lines = wait_for_lines(out, sent)
        assert worker.poll() is None
    finally:
        stop_worker(worker)

    assert sorted(line.split()[0] for line in lines) == sorted(f"ping-{i}" for i in range(sent))
    assert proxy.failed_calls >= 3, proxy.receive_calls
    assert "treated as an empty poll" in read_log(worker)
    assert "Unrecoverable error" not in read_log(worker)


def test_without_the_guard_one_503_breaks_the_worker(flaky, tmp_path):
    """Documents the kombu 5.7.0 bug the guard exists for: if this fails, kombu changed.

    Where the 503's response is handled decides how it breaks: in the hub's reader it is an
    "Unrecoverable error" and the worker exits; in a timer callback the hub logs "Error in
    timer" and that queue's polling chain ends, leaving a live worker that consumes nothing.
    """
    proxy, worker_env, _ = flaky
    worker = start_celery_worker(
        {**worker_env, "WEFT_KOMBU_SQS_GUARD": "0"},
        app=MINI_APP,
        log_path=tmp_path / "worker.log",
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and KOMBU_TRACE_LINE not in read_log(worker):
            time.sleep(0.2)
        time.sleep(2)  # an unrecoverable error takes a moment to stop the process
    finally:
        stop_worker(worker)

    log = read_log(worker)
    assert proxy.failed_calls >= 1
    assert KOMBU_TRACE_LINE in log, log[-3000:]
    assert "AttributeError(\"'list' object has no attribute 'get'\")" in log
    exited = KOMBU_CRASH in log and worker.returncode != 0
    polling_ended = "Error in timer: AttributeError" in log
    assert exited or polling_ended, log[-3000:]


def test_worker_survives_a_broker_restart_before_queues_are_recreated(tmp_path):
    """A killed local server refuses connections (curl's 599), then answers QueueDoesNotExist
    until ensure_queues runs again; the worker waits through both and carries on."""
    server = start_local_sqs(log_path=tmp_path / "moto.log")
    worker = None
    try:
        env = sqs_env(server, WEFT_QUEUE_PREFIX=unique_prefix())
        ensure_test_queues(env)
        out = tmp_path / "pings.txt"
        worker = start_celery_worker(env, app=MINI_APP, log_path=tmp_path / "worker.log")
        publisher = celery_publisher(env)
        publisher.send_task("mini.ping", args=[str(out), "before"])
        wait_for_lines(out, 1)

        server.kill()
        time.sleep(2)  # several polls against a closed port
        server.restart()
        time.sleep(2)  # several polls against a server without the queues
        assert worker.poll() is None, read_log(worker)[-3000:]
        ensure_test_queues(env)
        celery_publisher(env, name="again").send_task("mini.ping", args=[str(out), "after"])

        lines = wait_for_lines(out, 2)
        assert [line.split()[0] for line in lines] == ["before", "after"]
        log = read_log(worker)
        assert "HTTP 599" in log
        assert "QueueDoesNotExist" in log
        assert "Unrecoverable error" not in log
    finally:
        if worker is not None:
            stop_worker(worker)
        server.kill()
