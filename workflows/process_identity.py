"""Who this process is when it claims a step. Pure Python (no Django): `config/celery.py`
registers a worker process from Celery's `worker_init` signal, before the pool forks its
children, so that every child inherits the registration of the worker it belongs to.

A registered worker process reports its registration id with its heartbeat (and the pids of
its pool's children), so a claim can be judged by that registry: a hostname and a pid are not
an identity (two containers may share both). Processes that are not registered workers (the
web, tests, management commands) claim under a random per-process token; nobody can declare
those dead, their leases simply run out.
"""

import os
import uuid

_registration: str | None = None
_token: str = uuid.uuid4().hex


def register_worker_process() -> str:
    """This process (and the children it forks from now on) belong to one registered worker."""
    global _registration
    if _registration is None:
        _registration = uuid.uuid4().hex
    return _registration


def worker_registration() -> str | None:
    return _registration


def process_token() -> str:
    return _token


def _new_token_after_fork() -> None:
    global _token
    _token = uuid.uuid4().hex


os.register_at_fork(after_in_child=_new_token_after_fork)
