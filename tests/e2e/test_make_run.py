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


def bare_environment(var_dir: Path) -> dict[str, str]:
    """What a fresh checkout has: no database, cache or broker configured."""
    keep = {"PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "PYTHONPATH"}
    env = {k: v for k, v in os.environ.items() if k in keep}
    env.update({"DEBUG": "1", "WEFT_DEV": "1", "WEFT_VAR_DIR": str(var_dir),
                "PYTHONUNBUFFERED": "1", "LOG_LEVEL": "WARNING"})
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


def start(var_dir: Path, log_path: Path, *, via_shell: bool):
    web_port, sqs_port = free_port(), free_port()
    command = [sys.executable, "manage.py", "weft_run", "--port", str(web_port),
               "--sqs-port", str(sqs_port), "--concurrency", "1"]
    if via_shell:  # a parent that can die without telling weft_run, as `make` does
        command = ["sh", "-c", " ".join(command) + " & wait"]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, cwd=REPO, env=bare_environment(var_dir),
                                   stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
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
