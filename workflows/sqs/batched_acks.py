"""Acknowledged SQS messages are deleted in batches, off the worker's event loop.

kombu's SQS channel deletes a message when Celery acknowledges it (`Channel.basic_ack`): one
blocking DeleteMessage per message, sent from the worker's main process, inside the event loop
that also receives messages and hands them to the pool. While SQS answers, nothing else moves:
in `python -m bench.distributed` a quarter of the main process's busy time was waiting for those
answers, and each call costs botocore's CPU on the worker and SQS's own work.

With this patch `basic_ack` frees the delivery's prefetch slot at once, as kombu does after its
delete, and hands the receipt handle to `AckBatcher`: a thread that sends DeleteMessageBatch,
up to 10 handles (SQS's limit) per queue, after waiting at most `LINGER_SECONDS` for more.

Why it is safe for Weft: a step's outcome is in PostgreSQL before its message is acknowledged
(acks_late). A delete that never happens (the process dies in those milliseconds, SQS refuses
it) only means SQS delivers the message again after its visibility timeout, and a worker skips a
step that is already done: the same as a worker that dies just before its ack today. Deletes
still pending when the worker stops are sent first (`ack_batches_flush`, at `worker_shutdown`
and at exit).

`WEFT_SQS_BATCHED_ACKS=0` keeps kombu's one-by-one deletes.
"""

from __future__ import annotations

import atexit
import collections
import logging
import os
import threading
import time

from workflows.sqs.config import get_bool

logger = logging.getLogger("weft.sqs")

MAX_BATCH = 10  # DeleteMessageBatch takes at most 10 entries
LINGER_SECONDS = 0.01  # how long a first handle waits for others to share its request

_lock = threading.Lock()
_batcher: AckBatcher | None = None


class AckBatcher:
    """Receipt handles to delete, sent by one daemon thread in batches per (client, queue)."""

    def __init__(self, linger: float = LINGER_SECONDS) -> None:
        self.pid = os.getpid()  # its thread lives in this process only
        self.linger = linger
        self._pending: collections.deque = collections.deque()
        self._condition = threading.Condition()
        self._busy = 0  # handles taken from `_pending` whose request has not ended
        self.requests = 0
        self.deleted = 0
        self.failed = 0
        self._thread = threading.Thread(target=self._run, name="weft-sqs-acks", daemon=True)
        self._thread.start()

    def add(self, client, queue_url: str, receipt_handle: str) -> None:
        with self._condition:
            self._pending.append((client, queue_url, receipt_handle))
            self._condition.notify()

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every handle added so far was sent; False if `timeout` ran out."""
        deadline = time.monotonic() + timeout
        with self._condition:
            self._condition.notify()
            while self._pending or self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._condition.wait(min(left, 0.05))
        return True

    def _take(self) -> dict:
        """Up to MAX_BATCH handles per (client, queue), in arrival order; the rest wait."""
        with self._condition:
            while not self._pending:
                self._condition.wait()
        if len(self._pending) < MAX_BATCH and self.linger:
            time.sleep(self.linger)  # let the acks of the same burst join this request
        batches: dict = {}
        with self._condition:
            kept = collections.deque()
            while self._pending:
                client, url, handle = self._pending.popleft()
                batch = batches.setdefault((id(client), url), (client, url, []))[2]
                if len(batch) < MAX_BATCH:
                    batch.append(handle)
                else:
                    kept.append((client, url, handle))
            self._pending.extend(kept)
            self._busy = sum(len(handles) for _, _, handles in batches.values())
        return batches

    def _run(self) -> None:
        while True:
            batches = self._take()
            try:
                for client, url, handles in batches.values():
                    self._delete(client, url, handles)
            finally:
                with self._condition:
                    self._busy = 0
                    self._condition.notify_all()

    def _delete(self, client, url: str, handles: list[str]) -> None:
        entries = [{"Id": str(n), "ReceiptHandle": h} for n, h in enumerate(handles)]
        self.requests += 1
        try:
            answer = client.delete_message_batch(QueueUrl=url, Entries=entries)
        except Exception as exc:  # the messages come back after their visibility timeout
            self.failed += len(handles)
            logger.warning("sqs_delete_batch_failed queue=%s messages=%d error=%s", url,
                           len(handles), exc)
            return
        failed = answer.get("Failed") or []
        self.deleted += len(handles) - len(failed)
        self.failed += len(failed)
        for failure in failed:
            logger.warning("sqs_delete_failed queue=%s code=%s message=%s", url,
                           failure.get("Code"), failure.get("Message"))


def ack_batcher() -> AckBatcher:
    """This process's batcher (a forked child starts its own: threads do not survive a
    fork)."""
    global _batcher
    with _lock:
        if _batcher is None or _batcher.pid != os.getpid():
            _batcher = AckBatcher()
        return _batcher


def ack_batches_flush(timeout: float = 5.0) -> bool:
    batcher = _batcher
    if batcher is None or batcher.pid != os.getpid():
        return True
    done = batcher.flush(timeout)
    if not done:
        logger.warning("sqs_delete_flush_timeout pending deletes left to the visibility timeout")
    return done


def _batched_basic_ack(original, virtual_basic_ack):
    def basic_ack(self, delivery_tag, multiple=False):
        try:
            info = self.qos.get(delivery_tag).delivery_info
            receipt_handle = info["sqs_message"]["ReceiptHandle"]
            queue_url = info["sqs_queue"]
        except KeyError:  # not an SQS delivery: kombu's own path
            return original(self, delivery_tag, multiple)
        queue = self.canonical_queue_name(info["routing_key"]) if "routing_key" in info \
            else None
        ack_batcher().add(self.sqs(queue=queue), queue_url, receipt_handle)
        # What kombu does after its DeleteMessage: forget the delivery, free its slot.
        return virtual_basic_ack(self, delivery_tag)

    basic_ack.weft_batched = True
    return basic_ack


def install_batched_acks(enabled: bool | None = None) -> bool:
    """Patch kombu's SQS channel once; True when acks go through `AckBatcher`."""
    if enabled is None:
        enabled = get_bool(os.environ, "WEFT_SQS_BATCHED_ACKS", True)
    if not enabled:
        return False
    try:
        from kombu.transport import virtual
        from kombu.transport.SQS import Channel
    except ImportError:  # boto3 missing: no SQS transport
        return False
    with _lock:
        if not getattr(Channel.basic_ack, "weft_batched", False):
            Channel.basic_ack = _batched_basic_ack(Channel.basic_ack,
                                                   virtual.Channel.basic_ack)
            atexit.register(ack_batches_flush)  # once, with the patch
    return True


def batched_acks_installed() -> bool:
    try:
        from kombu.transport.SQS import Channel
    except ImportError:
        return False
    return bool(getattr(Channel.basic_ack, "weft_batched", False))
