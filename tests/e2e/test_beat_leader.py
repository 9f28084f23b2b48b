"""Real beat processes share one PostgreSQL advisory lock: only the leader sends, and when it
dies (SIGKILL, SIGTERM) or loses its lock session (pg_terminate_backend) another takes over
without sending a slot twice and without skipping one.

What is observed is what the beats published: a periodic task every 2 s goes to the local SQS
server, which stamps each message's SentTimestamp (Celery's `origin` header names the sender),
and when each beat decided to send, from its log.
"""

from __future__ import annotations

import itertools
import signal
import time

import pytest

from tests.e2e.support.beat_processes import (
    SentMessages,
    alive,
    database_url_for,
    holder_os_pid,
    kill_all,
    lock_holder,
    logged_sends,
    start_beat,
    wait_until,
)
from tests.e2e.support.fixtures import (  # noqa: F401 -- local_sqs is a fixture
    ensure_test_queues,
    local_sqs,
    sqs_env,
    unique_prefix,
)
from tests.e2e.support.workers import log_tail, read_log
from workflows.scheduler import beat_lock_key
from workflows.sqs.config import sqs_settings

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PERIOD = 2.0
STANDBY = 1.0  # WEFT_BEAT_STANDBY_INTERVAL's default
# When beats decide to send (their log: after reserving the entry, before publishing), slots are
# a period apart, less celery's 10 ms drift and log rounding; a re-sent slot comes sooner.
TOO_SOON = PERIOD - 0.1
# Publishing adds latency (a new leader's first SendMessage opens a connection), so the broker
# sees sends a little less regularly.
TOO_SOON_AT_BROKER = PERIOD / 2
# A takeover may cost the standby's retry interval on top of the period, plus start-up slack.
TOO_LATE = PERIOD + STANDBY + 1.5
PROBE_TASK = "weft.e2e.beat_probe"
STARTUP_TIMEOUT = 20.0
# Stop the leader this long after one of its sends: right after (a lost last_run_at write would
# re-send at once), mid-period, just before the next slot is due (a slow takeover skips it); and
# once with SIGTERM, the way an orchestrator stops it (it writes and lets go of the lock).
HANDOVERS = (
    (0.2, signal.SIGKILL),
    (1.0, signal.SIGKILL),
    (1.8, signal.SIGKILL),
    (0.2, signal.SIGTERM),
)


@pytest.fixture
def beat_env(local_sqs, transactional_db):  # noqa: F811
    from django.db import connection

    env = sqs_env(
        local_sqs,
        WEFT_QUEUE_PREFIX=unique_prefix(),  # a queue nobody else publishes to
        DATABASE_URL=database_url_for(connection.settings_dict),  # the test's own database
        WEFT_DB_POOL_MIN="1",
        WEFT_DB_POOL_MAX="4",
        LOG_LEVEL="INFO",
    )
    # Explicit, since the test settings fall back to memory:// when CELERY_BROKER_URL is unset.
    env["CELERY_BROKER_URL"] = sqs_settings(env).broker_url
    ensure_test_queues(env)
    return env


@pytest.fixture
def probe(transactional_db):
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    every = IntervalSchedule.objects.create(every=int(PERIOD), period=IntervalSchedule.SECONDS)
    return PeriodicTask.objects.create(name="beat-probe", task=PROBE_TASK, interval=every)


@pytest.fixture
def lock_key():
    from django.db import connection

    return beat_lock_key(connection.settings_dict["NAME"])


def _leader(cursor, lock_key, beats):
    """The running beat whose session holds the lock, or None."""
    holder = lock_holder(cursor, lock_key)
    pid = holder_os_pid(holder[1]) if holder else None
    return next((b for b in beats if b.pid == pid and alive(b)), None)


def _wait_for_leader(cursor, lock_key, beats, timeout):
    try:
        return wait_until(lambda: _leader(cursor, lock_key, beats), timeout, 0.02, "a leader")
    except TimeoutError:
        raise AssertionError(
            "no beat leads:\n" + "\n---\n".join(log_tail(b, 20) for b in beats)
        ) from None


def _wait_for_send(sent, pid, after, timeout):
    def sends_by_pid():
        return [s for s in sent.poll() if s.task == PROBE_TASK and s.pid == pid and s.at > after]

    return wait_until(sends_by_pid, timeout, 0.05, f"a send by beat {pid}")[-1]


def _gaps(sends):
    return [round(b.at - a.at, 3) for a, b in itertools.pairwise(sends)]


def _assert_every_slot_sent_once(sends, logged):
    """`sends` as SQS recorded them; `logged`: (time, pid) of the same sends from the beat logs."""
    assert len(sends) >= 2, f"fewer than two sends: {sends}"
    assert [pid for _, pid in logged] == [s.pid for s in sends], "beat logs and SQS disagree"
    decided = [round(b - a, 3) for (a, _), (b, _) in itertools.pairwise(logged)]
    gaps = _gaps(sends)
    assert min(decided) >= TOO_SOON, f"a slot was sent twice: {decided} (at SQS: {gaps})"
    assert min(gaps) >= TOO_SOON_AT_BROKER, f"a slot was sent twice: gaps at SQS {gaps}"
    assert max(gaps) <= TOO_LATE, f"a slot was skipped or sent late: gaps {gaps}"
    return decided


def test_killing_the_leader_hands_over_without_resending_or_skipping_a_slot(
    beat_env, probe, lock_key
):
    from django.db import connection

    sent = SentMessages(beat_env)
    beats, killed, handovers = [], [], []
    try:
        beats = [start_beat(beat_env) for _ in range(3)]
        started = list(beats)
        with connection.cursor() as cursor:
            leader = _wait_for_leader(cursor, lock_key, beats, STARTUP_TIMEOUT)
            last = _wait_for_send(sent, leader.pid, 0, PERIOD + STANDBY + 2)
            for delay, sig in HANDOVERS:
                time.sleep(max(0.0, last.at + delay - time.time()))
                leader.send_signal(sig)
                killed_at = time.time()
                leader.wait(timeout=5)
                killed.append((leader, killed_at))
                beats.remove(leader)
                beats.append(start_beat(beat_env))  # three beats again
                started.append(beats[-1])

                leader = _wait_for_leader(cursor, lock_key, beats, STANDBY + 3)
                lock_moved = time.time() - killed_at
                last = _wait_for_send(sent, leader.pid, killed_at, PERIOD + STANDBY + 3)
                handovers.append(
                    (sig.name, delay, round(lock_moved, 2), round(last.at - killed_at, 2))
                )
            # The last leader keeps the rhythm, and late starters have become standbys.
            last = _wait_for_send(sent, leader.pid, last.at, PERIOD + 2)
        assert all(alive(b) for b in beats), "a beat died:\n" + "\n".join(
            log_tail(b, 20) for b in beats if not alive(b)
        )
        standbys = [b for b in beats if b is not leader]
        for beat in standbys:
            wait_until(lambda b=beat: "beat_standby" in read_log(b), 10, 0.1, "standby log")
    finally:
        kill_all(beats)

    sent.poll()  # what was sent after the last poll (while the test waited), too
    sends = sent.sends(PROBE_TASK)
    decided = _assert_every_slot_sent_once(sends, logged_sends(started, "beat-probe"))
    print(f"\nhandovers (signal, s after a send, lock moved, next send): {handovers}")
    print(f"{len(sends)} sends, gaps at SQS {_gaps(sends)}, as decided {decided}")
    for proc, killed_at in killed:
        assert not [s for s in sends if s.pid == proc.pid and s.at > killed_at]
    assert len({s.pid for s in sends}) == len(HANDOVERS) + 1, "each leader sent"
    assert len({s.task_id for s in sends}) == len(sends)


def test_a_leader_that_loses_its_lock_session_steps_down_and_leads_again_from_the_database(
    beat_env, probe, lock_key
):
    """Two beats, A and B: the leader's lock session is terminated three times, so each leads
    twice. A beat's second leadership must start from the database's last_run_at, not from its
    memory of its first one (it would re-send at once)."""
    from django.db import connection

    sent = SentMessages(beat_env)
    beats, terminations, handovers = [], [], []
    try:
        beats = [start_beat(beat_env) for _ in range(2)]
        with connection.cursor() as cursor:
            leader = _wait_for_leader(cursor, lock_key, beats, STARTUP_TIMEOUT)
            last = _wait_for_send(sent, leader.pid, 0, PERIOD + STANDBY + 2)
            for _ in range(3):
                time.sleep(max(0.0, last.at + 0.2 - time.time()))
                backend_pid, _ = lock_holder(cursor, lock_key)
                cursor.execute("SELECT pg_terminate_backend(%s)", [backend_pid])
                terminated_at = time.time()
                terminations.append((leader, terminated_at))

                (other,) = [beat for beat in beats if beat is not leader]
                assert _wait_for_leader(cursor, lock_key, [other], STANDBY + 3) is other
                lock_moved = time.time() - terminated_at
                last = _wait_for_send(sent, other.pid, terminated_at, PERIOD + STANDBY + 3)
                handovers.append((round(lock_moved, 2), round(last.at - terminated_at, 2)))
                times = sum(1 for beat, _ in terminations if beat is leader)
                wait_until(
                    lambda b=leader, n=times: read_log(b).count("beat_leader_stepped_down") >= n,
                    PERIOD + 2,
                    0.1,
                    "step down",
                )
                assert alive(leader), "a leader without its lock should stand by, not exit"
                leader = other
            last = _wait_for_send(sent, leader.pid, last.at, PERIOD + 2)
    finally:
        kill_all(beats)

    sent.poll()  # what was sent after the last poll (while the test waited), too
    sends = sent.sends(PROBE_TASK)
    decided = _assert_every_slot_sent_once(sends, logged_sends(beats, "beat-probe"))
    print(f"\nhandovers (lock moved, next send): {handovers}")
    print(f"{len(sends)} sends, gaps at SQS {_gaps(sends)}, as decided {decided}")
    # A beat sends nothing from losing its lock until it leads again.
    ends = [at for _, at in terminations[1:]] + [float("inf")]
    for (beat, terminated_at), leads_again_at in zip(terminations, ends, strict=True):
        standby_sends = [s for s in sends if s.pid == beat.pid]
        assert not [s for s in standby_sends if terminated_at < s.at < leads_again_at]
    assert all("lock lost" in read_log(beat) for beat in beats)
