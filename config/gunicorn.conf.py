"""gunicorn settings for Weft's web processes (`gunicorn config.wsgi -c config/gunicorn.conf.py`).

Prometheus counters live in each process, so with several gunicorn workers a scrape would see
one worker's share. This file gives the server a private PROMETHEUS_MULTIPROC_DIR (unless one is
set) before any worker starts: each worker writes its counters there and /metrics adds them up
(workflows.metrics.process_registry). The directory is emptied at start and removed at exit.
"""

import os
import shutil
import tempfile
from pathlib import Path

bind = os.environ.get("WEFT_WEB_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("WEFT_WEB_WORKERS", "3"))
accesslog = "-"

_OWN_DIRECTORY = "PROMETHEUS_MULTIPROC_DIR" not in os.environ
os.environ.setdefault(
    "PROMETHEUS_MULTIPROC_DIR", str(Path(tempfile.gettempdir()) / f"weft-metrics-{os.getpid()}"))


def on_starting(server):
    directory = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink()


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    if _OWN_DIRECTORY:
        shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)
