"""`LockedDatabaseScheduler`: django-celery-beat's `DatabaseScheduler` that ticks only while it
holds a PostgreSQL session advisory lock, so any number of beat processes can run and exactly one
of them (the leader) sends periodic tasks; the others stand by and retry the lock.

    celery -A config beat -S workflows.scheduler:LockedDatabaseScheduler

Why it is built this way (docs/scheduler.md, with the measurements behind it):

- The lock lives on a dedicated psycopg connection, never on Django's: `DatabaseScheduler` calls
  `close_old_connections()`, which closes Django's connection and with it a session lock, silently
  (both beats would then send).
- That connection goes straight to PostgreSQL. Session advisory locks do not survive PgBouncer in
  transaction pooling mode (the lock stays on whichever server connection ran the statement), so
  point `DATABASES["default"]` at PostgreSQL itself, or give beat a direct URL.
- A new leader re-reads the schedule from the database: in-memory `last_run_at` values are stale
  from whenever this process last led, and would re-send slots another leader already sent.
- The leader writes `last_run_at` after every send (`sync_every_tasks = 1`), so a takeover finds
  the slot that was just sent; standbys never write.
- The lock key is `zlib.crc32` of a name that includes the database name: stable across processes
  and Python versions (`hash()` is salted per process), and distinct per database.

The leader also fires durable timers itself (`timers_fire_due`, on every tick, in this process),
instead of sending a task that a worker would run: the resumes are written as soon as the beat
wakes, without a broker round trip nor a wait behind the resumes already queued. It wakes for
the next due time (`timers_next_due`, read from the due-time index after each firing), and at
least every `WEFT_TIMER_POLL_SECONDS` (default 1.0) for timers written since. Only the leader
fires; firing is exactly-once by its own row locks, whatever the lock does (a leader that dies
mid-claim rolls back, and the next leader claims the same bookmarks).

A leader can still send a slot twice in rare cases (it dies between sending and writing
`last_run_at`, or it loses the lock in the milliseconds between its check and a send), so fired
tasks stay idempotent: keyed by (trigger, scheduled time) with a unique constraint.

Settings: `WEFT_BEAT_LOCK_NAME` (default "weft-beat"; the database name is appended),
`WEFT_BEAT_STANDBY_INTERVAL` (seconds between a standby's lock attempts, default 1.0) and
`WEFT_TIMER_POLL_SECONDS`. On SQLite
there are no advisory locks: a single beat runs unlocked, with a warning.
"""

from __future__ import annotations

import contextlib
import os
import socket
import zlib

import psycopg
import structlog
from django.conf import settings
from django.db import DatabaseError, connections
from django.utils import timezone
from django_celery_beat.schedulers import DatabaseScheduler

from workflows import instruments
from workflows.services.timers import MAX_BATCHES, timers_fire_due, timers_next_due

logger = structlog.get_logger(__name__)

DEFAULT_LOCK_NAME = "weft-beat"
DEFAULT_STANDBY_INTERVAL = 1.0
DEFAULT_TIMER_POLL = 1.0
# Woken for a due time, the beat sleeps at least this long (no busy loop on a clock skew).
MIN_TIMER_WAIT = 0.005
CONNECT_TIMEOUT = 5  # seconds; a standby blocks this long at most when PostgreSQL is away
# Dead peers are noticed by TCP (keepalives while idle, tcp_user_timeout while sending) rather
# than the kernel's defaults, which take many minutes.
KEEPALIVE = {
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
    "tcp_user_timeout": 15_000,  # milliseconds
}
# libpq options worth carrying over from Django's OPTIONS (TLS); the rest are Django's own.
_LIBPQ_OPTIONS = ("sslmode", "sslrootcert", "sslcert", "sslkey", "sslcrl", "sslpassword")

# A bigint advisory lock shows in pg_locks as classid = high 32 bits, objid = low 32 bits,
# objsubid = 1. crc32 keys fit in 32 bits, so classid is 0.
_HOLDS_LOCK_SQL = """
    SELECT EXISTS (
        SELECT 1 FROM pg_locks
        WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND granted
          AND classid = 0 AND objid::bigint = %s AND objsubid = 1
    )
"""


def beat_lock_name(dbname: str) -> str:
    base = getattr(settings, "WEFT_BEAT_LOCK_NAME", None) or DEFAULT_LOCK_NAME
    return f"{base}:{dbname}"


def beat_lock_key(dbname: str) -> int:
    """The advisory lock key for `dbname` (0 <= key < 2**32, a valid bigint)."""
    return zlib.crc32(beat_lock_name(dbname).encode())


def lock_connection_kwargs(database: dict) -> dict:
    """psycopg.connect() keyword arguments for a lock connection to Django's `database`."""
    kwargs = {
        "dbname": database.get("NAME"),
        "user": database.get("USER"),
        "password": database.get("PASSWORD"),
        "host": database.get("HOST"),
        "port": database.get("PORT"),
    }
    options = database.get("OPTIONS") or {}
    kwargs.update({name: options[name] for name in _LIBPQ_OPTIONS if options.get(name)})
    kwargs = {name: str(value) for name, value in kwargs.items() if value not in (None, "")}
    # Operators find the leader with: SELECT application_name FROM pg_stat_activity JOIN pg_locks
    # USING (pid) WHERE locktype = 'advisory'.
    application_name = f"weft-beat {socket.gethostname()} pid={os.getpid()}"
    return {
        **kwargs,
        **KEEPALIVE,
        "connect_timeout": CONNECT_TIMEOUT,
        "application_name": application_name[:63],
        "autocommit": True,
    }


class LockedDatabaseScheduler(DatabaseScheduler):
    """A `DatabaseScheduler` that sends only while it holds the beat advisory lock."""

    def __init__(self, *args, **kwargs):
        self._leader = False
        self._lock_connection: psycopg.Connection | None = None
        self._static_entries_installed = False
        self._standby_logged = False
        self._unavailable_logged = False
        database = settings.DATABASES["default"]
        self._locking = connections["default"].vendor == "postgresql"
        self._dbname = str(database.get("NAME"))
        self.lock_key = beat_lock_key(self._dbname)
        self.standby_interval = float(
            getattr(settings, "WEFT_BEAT_STANDBY_INTERVAL", DEFAULT_STANDBY_INTERVAL)
        )
        self.timer_poll = float(getattr(settings, "WEFT_TIMER_POLL_SECONDS", DEFAULT_TIMER_POLL))
        super().__init__(*args, **kwargs)
        # Persist last_run_at after every send whatever CELERY_BEAT_SYNC_EVERY says, or a
        # takeover re-sends the slots sent since the last sync.
        self.sync_every_tasks = 1

    @property
    def is_leader(self) -> bool:
        return self._leader

    # --- scheduler hooks ----------------------------------------------------------------------
    def setup_schedule(self):
        # Deferred to the first leadership: installing static entries writes to the database,
        # which standbys must not do.
        pass

    def tick(self, *args, **kwargs):
        if self._leader and not self._still_holds_lock():
            # Not retried in this tick: a connection that just failed is likely to fail again,
            # and the standbys are already polling.
            instruments.BEAT_LEADER.set(0)
            return self.standby_interval
        if not self._leader and not self._try_to_lead():
            instruments.BEAT_LEADER.set(0)
            return self.standby_interval
        instruments.BEAT_LEADER.set(1)
        # Timers first: a periodic task sent in this tick (a SendMessage) would delay them.
        wait = self.fire_timers()
        return min(wait, super().tick(*args, **kwargs))

    def fire_timers(self) -> float:
        """Fire the due timers; returns how long to sleep until the next one is due."""
        started = timezone.now()
        try:
            fired = timers_fire_due()
            next_due = timers_next_due(after=timezone.now())
        except DatabaseError as exc:  # the database is away: the next tick tries again
            logger.warning("beat_timers_failed", error=str(exc).strip())
            connections["default"].close_if_unusable_or_obsolete()
            return self.timer_poll
        except Exception as exc:  # a bug must not stop the periodic tasks: logged, tried again
            logger.exception("beat_timers_failed", error=str(exc))
            return self.timer_poll
        if fired:
            logger.info("beat_timers_fired", fired=fired, started=started.isoformat(),
                        seconds=round((timezone.now() - started).total_seconds(), 3))
        if fired >= MAX_BATCHES * settings.WEFT_TIMER_BATCH_SIZE:
            return MIN_TIMER_WAIT  # more are due than one call claims
        if next_due is None:
            return self.timer_poll
        wait = (next_due - timezone.now()).total_seconds()
        return max(MIN_TIMER_WAIT, min(self.timer_poll, wait))

    def sync(self):
        # A standby's (or a former leader's) in-memory schedule is stale: writing it would move
        # last_run_at backwards under the current leader.
        if self._leader:
            super().sync()

    def close(self):
        try:
            super().close()  # the leader syncs; the broker connection is released
        finally:
            if self._leader:
                self._step_down("shutdown")
            self._close_lock_connection()

    # --- leadership ---------------------------------------------------------------------------
    def _try_to_lead(self) -> bool:
        if not self._locking:
            if not self._unavailable_logged:
                logger.warning(
                    "beat_unlocked",
                    reason="database is not PostgreSQL: no advisory lock, run a single beat",
                    vendor=connections["default"].vendor,
                )
                self._unavailable_logged = True
            return self._become_leader()
        try:
            if self._lock_connection is None or self._lock_connection.closed:
                self._lock_connection = psycopg.connect(
                    **lock_connection_kwargs(settings.DATABASES["default"])
                )
            row = self._lock_connection.execute(
                "SELECT pg_try_advisory_lock(%s::bigint)", (self.lock_key,)
            ).fetchone()
        except psycopg.Error as exc:
            self._close_lock_connection()
            if not self._unavailable_logged:
                logger.warning("beat_lock_unavailable", error=str(exc).strip())
                self._unavailable_logged = True
            return False
        self._unavailable_logged = False
        if not (row and row[0]):
            if not self._standby_logged:
                logger.info("beat_standby", lock_key=self.lock_key, database=self._dbname)
                self._standby_logged = True
            return False
        return self._become_leader()

    def _become_leader(self) -> bool:
        self._leader = True
        self._standby_logged = False
        try:
            self._reload_schedule()
        except Exception as exc:  # the database may be briefly away: let another beat try
            logger.exception("beat_leader_setup_failed", error=str(exc))
            self._step_down("setup failed")
            return False
        logger.info(
            "beat_leader_acquired",
            lock_key=self.lock_key if self._locking else None,
            database=self._dbname,
            entries=len(self._schedule or {}),
        )
        return True

    def _reload_schedule(self) -> None:
        """Forget everything in memory and read the schedule fresh from the database."""
        self._dirty.clear()
        self._schedule = None
        self._last_timestamp = None
        self._initial_read = True
        self._heap = None
        self.old_schedulers = None
        self._tasks_since_sync = 0
        if not self._static_entries_installed:
            DatabaseScheduler.setup_schedule(self)  # reads the schedule, then writes static entries
            self._static_entries_installed = True
        else:
            self.schedule  # noqa: B018 -- the property performs the read

    def _still_holds_lock(self) -> bool:
        if not self._locking:
            return True
        error = None
        try:
            row = self._lock_connection.execute(_HOLDS_LOCK_SQL, (self.lock_key,)).fetchone()
            if row and row[0]:
                return True
        except (psycopg.Error, AttributeError) as exc:  # AttributeError: no connection
            error = str(exc).strip()
        self._step_down("lock lost", error=error)
        return False

    def _step_down(self, reason: str, error: str | None = None) -> None:
        self._leader = False
        # Unsent reservations and the heap belong to the old leadership; the next one re-reads.
        self._dirty.clear()
        self._heap = None
        self._close_lock_connection()
        log = logger.info if reason == "shutdown" else logger.warning
        lock_key = self.lock_key if self._locking else None
        log("beat_leader_stepped_down", reason=reason, error=error, lock_key=lock_key)

    def _close_lock_connection(self) -> None:
        # Closing the session releases the lock; pg_advisory_unlock would need a live server.
        connection, self._lock_connection = self._lock_connection, None
        if connection is not None:
            with contextlib.suppress(psycopg.Error):
                connection.close()
