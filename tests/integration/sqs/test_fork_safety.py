"""A Celery pool child forked after the main process used the database must not share the
parent's pooled connections, and gets a pool sized for one task (workflows.worker).

The check runs in a subprocess, because forking the test process would fork pytest-django's
test transaction too. The child asks PostgreSQL when its session started: a session opened
before the fork is the parent's."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]

FORK_SCRIPT = r"""
import os, sys, time
import django
django.setup()
from django.db import connection
from workflows.worker import prepare_forked_child

def query(sql, params=()):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0]

parent_backend = query("select pg_backend_pid()")
time.sleep(0.05)
forked_at = query("select clock_timestamp()")
read_end, write_end = os.pipe()
pid = os.fork()
if pid == 0:
    if sys.argv[1] == "forget":
        prepare_forked_child()
    fresh = query("select backend_start > %s from pg_stat_activity where pid = pg_backend_pid()",
                  (forked_at,))
    pool = connection.pool
    answer = f"{'fresh' if fresh else 'inherited'} {pool.min_size} {pool.max_size}"
    os.write(write_end, answer.encode())
    os._exit(0)
os.waitpid(pid, 0)
print(os.read(read_end, 100).decode())
# The parent's own session still works after the child went away.
print("parent-ok" if query("select pg_backend_pid()") > 0 else "parent-broken")
"""


def run_fork_script(mode: str) -> list[str]:
    # One pooled session in the parent: in "keep" mode the child can only get that one (a
    # session the pool opened in the background after `forked_at` would look fresh).
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings_test",
           "WEFT_DB_POOL": "1", "WEFT_DB_POOL_MIN": "1", "WEFT_DB_POOL_MAX": "6",
           "WEFT_DB_POOL_CHILD_MIN": "1", "WEFT_DB_POOL_CHILD_MAX": "2"}
    result = subprocess.run([sys.executable, "-c", FORK_SCRIPT, mode], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.split()


@pytest.mark.skipif(not os.environ.get("DATABASE_URL", "").startswith("postgres"),
                    reason="the pool is PostgreSQL's")
def test_a_forked_child_opens_its_own_small_pool():
    assert run_fork_script("forget") == ["fresh", "1", "2", "parent-ok"]


@pytest.mark.skipif(not os.environ.get("DATABASE_URL", "").startswith("postgres"),
                    reason="the pool is PostgreSQL's")
def test_without_forgetting_the_child_would_use_the_parents_session():
    """Shows what the fix is for (and that the check above can fail)."""
    assert run_fork_script("keep")[0] == "inherited"
