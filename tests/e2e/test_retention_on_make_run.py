"""Retention on the real processes of `make run`: beat sends `weft.apply_retention`, a worker
archives a finished instance to the embedded S3 (the SQS server's moto) and deletes it; the API
then says where the archive is and reads it back."""

import os
import signal

import httpx
import pytest

from tests.e2e.support.platform import wait_until
from tests.e2e.test_make_run import kill_leftovers, start, wait_healthy

pytestmark = pytest.mark.e2e


def test_make_run_archives_and_deletes_an_ended_instance(tmp_path):
    log_path = tmp_path / "run.log"
    # 0 days: an instance is due as soon as it ended; a tick every second.
    process, base = start(tmp_path, log_path, via_shell=False, extra_env={
        "WEFT_RETENTION_FINISHED_DAYS": "0", "WEFT_RETENTION_INTERVAL": "1"})
    try:
        wait_healthy(base, process, log_path)
        assert "Archive   weft-archive" in log_path.read_text()
        token = httpx.post(f"{base}/api/v1/auth/token/",
                           json={"username": "demo", "password": "demo-password"}).json()
        api = httpx.Client(base_url=f"{base}/api/v1",
                           headers={"Authorization": f"Bearer {token['access']}"}, timeout=10)
        started = api.post("/definitions/parallel-greetings/dispatch/", json={})
        assert started.status_code == 202, started.text
        instance_id = started.json()["id"]

        archived = wait_until(
            lambda: (api.get(f"/instances/{instance_id}/").json().get("archived")
                     and api.get(f"/instances/{instance_id}/").json()),
            timeout=90, what="the finished instance archived by housekeeping")
        assert archived["status"] == "finished"
        assert archived["archive"]["bucket"] == "weft-archive"
        assert archived["archive"]["key"].startswith("weft-archive/demo/parallel-greetings/")
        content = api.get(f"/instances/{instance_id}/archive/")
        assert content.status_code == 200, content.text
        assert len(content.json()["instance"]["output"]["greetings"]) == 2
        assert api.get(f"/instances/{instance_id}/journal/").status_code == 404

        os.kill(process.pid, signal.SIGINT)
        assert process.wait(timeout=60) == 0
    finally:
        kill_leftovers(tmp_path)
