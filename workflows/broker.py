"""The broker adapter: publishing a step is sending a message, by task name, on its
definition's queue. It never imports `workflows.tasks` (the tasks call the services, which call
this module: importing the tasks here would close a loop).

Messages of one queue go to SQS in `SendMessageBatch` calls of up to ten (one request instead
of ten when a sweep, a timer tick or an event fan-out publishes many steps at once). kombu has
no batch send, so the batch is built from kombu's own requests: while a batch is prepared the
channel's SQS client is wrapped, the `SendMessage` requests kombu would make (its envelope,
encoding, FIFO attributes) are collected instead of sent, and then sent together. Any other
broker (the in-memory one of tests and `make run` without SQS) gets one send per message.

On FIFO queues each step is its own message group, so the steps of a fork's branches are
delivered in parallel like on a standard queue (the runtime never relied on their order: a
step is claimed under the database's locks). The deduplication id names the step and its
publish number, so SQS drops a resend of the same publish (botocore retrying a request whose
answer was lost) but never a deliberate re-publish (the sweeper, a release, a re-drive).
"""

from __future__ import annotations

import dataclasses
import hashlib

import structlog
from celery import current_app
from django.conf import settings
from kombu.transport.SQS import Channel as SqsChannel

logger = structlog.get_logger(__name__)

# The names `workflows.tasks` registers; persisted in messages and dead letters: never rename.
RUN_STEP_TASK = "weft.run_step"
RUN_STEPS_TASK = "weft.run_steps"

# SQS's limits for one SendMessageBatch request.
SQS_BATCH_ENTRIES = 10
SQS_BATCH_BYTES = 256 * 1024


@dataclasses.dataclass(frozen=True)
class StepMessage:
    """One broker message: one step (`weft.run_step`) or several (`weft.run_steps`), each step
    as (id, publish number)."""

    steps: tuple[tuple[str, int], ...]

    @property
    def step_ids(self) -> list[str]:
        return [step_id for step_id, _ in self.steps]

    def fifo_options(self) -> dict:
        deliveries = ",".join(f"{step_id}:{count}" for step_id, count in self.steps)
        if len(self.steps) == 1:
            return {"MessageGroupId": self.steps[0][0], "MessageDeduplicationId": deliveries}
        digest = hashlib.sha256(deliveries.encode()).hexdigest()
        return {"MessageGroupId": f"steps-{digest[:32]}", "MessageDeduplicationId": digest}


def _send(app, message: StepMessage, queue: str, producer=None) -> None:
    sqs = settings.WEFT_SQS
    options: dict = {"queue": sqs.celery_queue(queue)}
    if sqs.fifo:
        options.update(message.fifo_options())
    if len(message.steps) == 1:
        name, args = RUN_STEP_TASK, [message.step_ids[0]]
    else:
        name, args = RUN_STEPS_TASK, [message.step_ids]
    app.send_task(name, args=args, ignore_result=True, producer=producer, **options)


def publish_step(*, step_id, queue: str, publish_count: int = 1) -> None:
    """Send one step's message (raises when the broker refuses it)."""
    _send(current_app, StepMessage(((str(step_id), publish_count),)), queue)


def publish_steps(*, step_ids: list, queue: str) -> None:
    """One message for several steps (all on one queue); a worker runs them in turn."""
    _send(current_app, StepMessage(tuple((str(step_id), 1) for step_id in step_ids)), queue)


def publish_messages(*, queue: str, messages: list[StepMessage], app=None) -> list[StepMessage]:
    """Send messages that all go to `queue`; returns those the broker did not accept."""
    app = app or current_app
    if not messages:
        return []
    with app.producer_or_acquire() as producer:
        if isinstance(producer.channel, SqsChannel):
            return _send_batches(app, producer, queue, messages)
        refused = []
        for message in messages:
            try:
                _send(app, message, queue, producer=producer)
            except Exception as exc:
                refused.append(message)
                logger.warning("step_publish_failed", queue=queue, steps=len(message.steps),
                               error=str(exc))
        return refused


class _RequestRecorder:
    """Stands in for the channel's SQS client: keeps `send_message` requests, passes the rest
    (queue look-ups) to the real client."""

    def __init__(self, client) -> None:
        self.client = client
        self.requests: list[dict] = []

    def send_message(self, **request) -> None:
        self.requests.append(request)

    def __getattr__(self, name):
        return getattr(self.client, name)


def _send_batches(app, producer, queue: str, messages: list[StepMessage]) -> list[StepMessage]:
    channel = producer.channel
    sqs_name = channel.canonical_queue_name(settings.WEFT_SQS.celery_queue(queue))
    client = channel.sqs(queue=sqs_name)
    recorder = _RequestRecorder(client)
    channel.sqs = lambda queue=None: recorder  # this channel only, until the batch is built
    try:
        prepared, refused = [], []
        for message in messages:
            before = len(recorder.requests)
            try:
                _send(app, message, queue, producer=producer)
            except Exception as exc:
                refused.append(message)
                logger.warning("step_publish_failed", queue=queue, error=str(exc))
                continue
            if len(recorder.requests) == before + 1:
                prepared.append((message, recorder.requests[-1]))
    finally:
        del channel.sqs
    for chunk in _chunks(prepared):
        refused += _send_batch(client, queue, chunk)
    return refused


def _chunks(prepared: list[tuple[StepMessage, dict]]):
    chunk, size = [], 0
    for message, request in prepared:
        length = len(request["MessageBody"].encode())
        if chunk and (len(chunk) == SQS_BATCH_ENTRIES or size + length > SQS_BATCH_BYTES):
            yield chunk
            chunk, size = [], 0
        chunk.append((message, request))
        size += length
    if chunk:
        yield chunk


def _send_batch(client, queue: str, chunk: list[tuple[StepMessage, dict]]) -> list[StepMessage]:
    entries = [{"Id": str(index), **{k: v for k, v in request.items() if k != "QueueUrl"}}
               for index, (_, request) in enumerate(chunk)]
    try:
        answer = client.send_message_batch(QueueUrl=chunk[0][1]["QueueUrl"], Entries=entries)
    except Exception as exc:
        logger.warning("step_publish_failed", queue=queue, messages=len(chunk), error=str(exc))
        return [message for message, _ in chunk]
    failed = answer.get("Failed") or []
    if failed:
        logger.warning("step_publish_failed", queue=queue, messages=len(failed),
                       error=failed[0].get("Message") or failed[0].get("Code"))
    return [chunk[int(entry["Id"])][0] for entry in failed]
