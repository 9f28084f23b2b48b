"""`make run`'s supervisor (`manage.py weft_run`) as a new user meets it: SQLite, no Redis, the
embedded SQS server, web + worker + beat; an example workflow finishes; one Ctrl-C stops every
process; and if whatever started it dies without passing a signal on, it stops too."""

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.support.platform import free_port, wait_until

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.e2e


def bare_environment(var_dir: Path, log_level: str = "WARNING") -> dict[str, str]:
    """What a fresh checkout has: no database, cache or broker configured."""
    keep = {"PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "PYTHONPATH"}
    env = {k: v for k, v in os.environ.items() if k in keep}
    env.update({"DEBUG": "1", "WEFT_DEV": "1", "WEFT_VAR_DIR": str(var_dir),
                "PYTHONUNBUFFERED": "1", "LOG_LEVEL": log_level})
    return env


def processes_of_run(var_dir: Path) -> list[int]:
    """Pids of every process of one run: each inherits its WEFT_VAR_DIR, unique to the test."""
    marker = f"WEFT_VAR_DIR={var_dir}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if marker in environ:
            found.append(int(entry.name))
    return found


def kill_leftovers(var_dir: Path) -> None:
    for pid in processes_of_run(var_dir):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def start(var_dir: Path, log_path: Path, *, via_shell: bool, log_level: str = "WARNING",
          extra_env: dict[str, str] | None = None):
    web_port, sqs_port, metrics_port = free_port(), free_port(), free_port()
    command = [sys.executable, "manage.py", "weft_run", "--port", str(web_port),
               "--sqs-port", str(sqs_port), "--concurrency", "1",
               "--metrics-port", str(metrics_port)]
    if via_shell:  # a parent that can die without telling weft_run, as `make` does
        command = ["sh", "-c", " ".join(command) + " & wait"]
    with open(log_path, "wb") as log:
        env = {**bare_environment(var_dir, log_level), **(extra_env or {})}
        process = subprocess.Popen(command, cwd=REPO, env=env,
                                   stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    process.metrics_port = metrics_port
    return process, f"http://127.0.0.1:{web_port}"


def wait_healthy(base: str, process, log_path: Path) -> None:
    def healthy():
        assert process.poll() is None, log_path.read_text()[-3000:]
        try:
            return httpx.get(f"{base}/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(healthy, timeout=120, interval=0.5, what="make run's web server")


def test_make_run_serves_runs_examples_and_stops_on_one_ctrl_c(tmp_path):
    log_path = tmp_path / "run.log"
    process, base = start(tmp_path, log_path, via_shell=False)
    try:
        wait_healthy(base, process, log_path)
        token = httpx.post(f"{base}/api/v1/auth/token/",
                           json={"username": "demo", "password": "demo-password"}).json()
        api = httpx.Client(base_url=f"{base}/api/v1",
                           headers={"Authorization": f"Bearer {token['access']}"}, timeout=10)
        started = api.post("/definitions/parallel-greetings/dispatch/", json={})
        assert started.status_code == 202, started.text
        instance_id = started.json()["id"]
        finished = wait_until(
            lambda: (api.get(f"/instances/{instance_id}/").json()["status"] == "finished"
                     and api.get(f"/instances/{instance_id}/").json()),
            timeout=60, what="the example finished on the worker")
        assert len(finished["output"]["greetings"]) == 2
        workers = api.get("/workers/").json()["results"]
        assert [w["state"] for w in workers] == ["online"]
        # The worker's and the beat's own metrics endpoints answer too.
        worker_metrics = httpx.get(f"http://127.0.0.1:{process.metrics_port}/").text
        assert 'weft_instances_finished_total{definition_id="parallel-greetings"' in \
            worker_metrics
        wait_until(lambda: "weft_beat_leader" in httpx.get(
            f"http://127.0.0.1:{process.metrics_port + 1}/").text, timeout=30,
            what="the beat's metrics")
        # weft_run, the SQS server, web, beat, the worker and its pool child
        assert len(processes_of_run(tmp_path)) >= 6

        os.kill(process.pid, signal.SIGINT)
        assert process.wait(timeout=60) == 0
        wait_until(lambda: not processes_of_run(tmp_path), timeout=30,
                   what="every process of the run gone")
    finally:
        kill_leftovers(tmp_path)
    assert "Weft stopped." in log_path.read_text()


def test_make_run_stops_when_its_parent_is_killed(tmp_path):
    log_path = tmp_path / "run.log"
    shell, base = start(tmp_path, log_path, via_shell=True)
    try:
        wait_healthy(base, shell, log_path)
        shell.send_signal(signal.SIGKILL)  # only the shell: weft_run is not told
        shell.wait(timeout=10)
        time.sleep(1)
        wait_until(lambda: not processes_of_run(tmp_path), timeout=60,
                   what="every process of the orphaned run gone")
    finally:
        kill_leftovers(tmp_path)
    assert "The parent process is gone; stopping." in log_path.read_text()


def test_make_run_logs_for_humans_and_may_call_loopback_services(tmp_path):
    """Console lines, one per request, no housekeeping chatter at INFO, and a workflow calling
    a service on this machine works (development only)."""
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Echo(BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps({"pong": self.path}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    local = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    threading.Thread(target=local.serve_forever, daemon=True).start()
    log_path = tmp_path / "run.log"
    process, base = start(tmp_path, log_path, via_shell=False, log_level="INFO")
    try:
        wait_healthy(base, process, log_path)
        token = httpx.post(f"{base}/api/v1/auth/token/",
                           json={"username": "demo", "password": "demo-password"}).json()
        api = httpx.Client(base_url=f"{base}/api/v1",
                           headers={"Authorization": f"Bearer {token['access']}"}, timeout=10)
        body = {"name": "Ping local", "outputs": [{"name": "reply", "type": "any"}],
                "root": {"type": "Sequence", "id": "main", "activities": [
                    {"id": "ping", "type": "SendHttpRequest",
                     "url": f"http://127.0.0.1:{local.server_address[1]}/ping"},
                    {"id": "out", "type": "SetOutput", "output": "reply",
                     "value": {"expr": "result.body"}}]}}
        assert api.post("/definitions/", json=body).status_code == 201
        assert api.post("/definitions/ping-local/publish/").status_code == 200
        instance_id = api.post("/definitions/ping-local/dispatch/", json={}).json()["id"]
        finished = wait_until(
            lambda: (api.get(f"/instances/{instance_id}/").json()["status"]
                     in ("finished", "faulted")
                     and api.get(f"/instances/{instance_id}/").json()),
            timeout=60, what="the loopback call finished on the worker")
        assert finished["status"] == "finished", finished["incidents"]
        assert finished["output"] == {"reply": {"pong": "/ping"}}
        for _ in range(3):
            assert httpx.get(f"{base}/api/v1/", timeout=5).status_code == 200
        time.sleep(3)  # a few housekeeping rounds of beat and the worker
        os.kill(process.pid, signal.SIGINT)
        assert process.wait(timeout=60) == 0
    finally:
        local.shutdown()
        kill_leftovers(tmp_path)
    log = log_path.read_text()
    lines = log.splitlines()
    index_lines = [line for line in lines if "path=/api/v1/ " in line]
    assert len(index_lines) == 3, index_lines  # one line per request, not two
    assert all("request_finished" in line and "status=200" in line for line in index_lines)
    assert not [line for line in lines if '"GET /api/v1/ HTTP/1.1"' in line]
    assert not [line for line in lines if line.lstrip().startswith('{"event"')]  # console
    assert "beat_leader_acquired" in log  # INFO lines do show
    log_lines = [line for line in lines if "[info" in line]  # not the worker's banner
    for chatter in ("weft.sweep_steps", "weft.fire_due_timers", "Sending due task"):
        assert not [line for line in log_lines if chatter in line], chatter
