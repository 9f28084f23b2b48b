"""A PostgreSQL restart in the middle of running workflows: every pooled session of the web
server, the workers and beat dies at once. Nothing may be lost or left stuck, no process may
exit, and the platform carries on without anyone restarting it."""

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from django.db import OperationalError, connection

from tests.e2e.conftest import publish_definition
from tests.e2e.support.platform import process_alive, start_worker, stop_all, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

CLUSTERS = Path("/etc/postgresql")


def restart_postgresql() -> None:
    version = sorted(os.listdir(CLUSTERS))[-1]
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart", "-m", "fast"],
        check=True, timeout=120, capture_output=True)


def finished_count(instance_ids) -> int:
    from workflows.models import WorkflowInstance

    try:
        return WorkflowInstance.objects.filter(id__in=instance_ids, status="finished").count()
    except OperationalError:  # this test's own session died with the restart
        connection.close()
        return -1


def steps_then_a_timer(definition_id: str) -> dict:
    return {
        "definition_id": definition_id, "name": definition_id,
        "inputs": [{"name": "n", "type": "integer", "default": 0}],
        "outputs": [{"name": "total", "type": "number"}],
        "root": {"type": "Sequence", "id": "main", "activities": [
            {"type": "examples.add", "id": "one", "input": {"a": {"expr": "input.n"}, "b": 1}},
            {"type": "Delay", "id": "nap", "duration": "PT2S"},
            {"type": "examples.add", "id": "two",
             "input": {"a": {"expr": "outputs.one"}, "b": 1}},
            {"type": "SetOutput", "id": "out", "output": "total",
             "value": {"expr": "outputs.two"}},
        ]},
    }


@pytest.mark.skipif(not CLUSTERS.is_dir() or not shutil.which("pg_ctlcluster"),
                    reason="needs a Debian-managed PostgreSQL cluster that this user can restart")
def test_postgresql_restart_mid_run_loses_nothing(make_tenant, e2e_env, beat):
    from workflows.models import WorkflowInstance

    workers = [start_worker(e2e_env, "db-a"), start_worker(e2e_env, "db-b")]
    try:
        _, api = make_tenant()
        publish_definition(api, steps_then_a_timer("through-restart"))
        ids = [api.post("/definitions/through-restart/dispatch/", {"input": {"n": n}}).json()["id"]
               for n in range(20)]
        time.sleep(1)  # the first steps ran; the timers are pending
        restart_postgresql()
        connection.close()

        wait_until(lambda: finished_count(ids) == len(ids), timeout=150, interval=1,
                   what="every workflow finished after the restart")
        totals = dict(WorkflowInstance.objects.filter(id__in=ids)
                      .values_list("input__n", "output__total"))
        assert totals == {n: n + 2 for n in range(20)}
        assert all(process_alive(w) for w in [*workers, beat])
        # Started after the restart: the web server's pool replaced its dead sessions too.
        late = api.post("/definitions/through-restart/dispatch/", {"input": {"n": 100}})
        assert late.status_code == 202, late.text
        wait_until(lambda: finished_count([late.json()["id"]]) == 1, timeout=60,
                   what="a workflow started after the restart finished")
    finally:
        stop_all(workers)
