"""SQS queues for Weft: names, creation with dead-letter queues, dead letters, message decoding.

Every function takes a boto3 SQS client, so callers choose credentials and endpoint
(`boto3.client("sqs", **settings.boto3_client_kwargs())`). No Django here.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable
from typing import Any

from workflows.sqs.config import (
    DLQ_SUFFIX,
    FIFO_SUFFIX,
    MAX_RECEIVE_COUNT,
    SQS_NAME_MAX,
    sqs_safe_name,
)

# A dead letter keeps the original body for 14 days (SQS's maximum), so operators can re-drive.
DLQ_RETENTION_SECONDS = 1_209_600


def queue_name(base: str, *, prefix: str = "", fifo: bool = False) -> str:
    """The SQS name of a work queue: `workflow-tasks`, `acme-workflow-tasks.fifo`, ...

    Matches what kombu derives from the Celery queue name and `queue_name_prefix`.
    """
    name = sqs_safe_name(prefix + base + (FIFO_SUFFIX if fifo else ""))
    if not name or len(name) > SQS_NAME_MAX:
        raise ValueError(f"SQS queue name {name!r} must be 1-{SQS_NAME_MAX} characters")
    return name


def dead_letter_queue_name(base: str, *, prefix: str = "", fifo: bool = False) -> str:
    """`workflow-tasks-dlq` / `workflow-tasks-dlq.fifo` (a FIFO queue needs a FIFO DLQ)."""
    return queue_name(base + DLQ_SUFFIX, prefix=prefix, fifo=fifo)


def queue_names(bases: Iterable[str], *, prefix: str = "", fifo: bool = False) -> list[str]:
    """Work queue and dead-letter queue names, each DLQ right before its queue."""
    names: list[str] = []
    for base in bases:
        names += [
            dead_letter_queue_name(base, prefix=prefix, fifo=fifo),
            queue_name(base, prefix=prefix, fifo=fifo),
        ]
    return names


def _create(client, name: str, attributes: dict[str, str]) -> str:
    try:
        return client.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    except client.exceptions.QueueNameExists:
        # Exists with other attributes (e.g. created by an older setup): converge them.
        url = client.get_queue_url(QueueName=name)["QueueUrl"]
        settable = {k: v for k, v in attributes.items() if k != "FifoQueue"}
        client.set_queue_attributes(QueueUrl=url, Attributes=settable)
        return url


def ensure_queues(
    client,
    names: Iterable[str],
    *,
    visibility_timeout: int,
    max_receive_count: int = MAX_RECEIVE_COUNT,
    fifo: bool = False,
) -> dict[str, str]:
    """Create each work queue (full SQS names) and its dead-letter queue; idempotent.

    Each DLQ is created first so the queue's RedrivePolicy can name its ARN. Running it again
    converges the attributes. Returns {queue name: url} for every queue and DLQ.
    """
    urls: dict[str, str] = {}
    for name in names:
        if fifo != name.endswith(FIFO_SUFFIX):
            raise ValueError(f"{name!r}: FIFO queue names end with {FIFO_SUFFIX}, others do not")
        stem = name[: -len(FIFO_SUFFIX)] if fifo else name
        dlq = stem + DLQ_SUFFIX + (FIFO_SUFFIX if fifo else "")
        common = {"FifoQueue": "true"} if fifo else {}
        dlq_url = _create(
            client, dlq, {**common, "MessageRetentionPeriod": str(DLQ_RETENTION_SECONDS)}
        )
        dlq_arn = client.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        redrive = json.dumps(
            {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(max_receive_count)}
        )
        attributes = {
            **common,
            "VisibilityTimeout": str(visibility_timeout),
            "RedrivePolicy": redrive,
        }
        urls[dlq] = dlq_url
        urls[name] = _create(client, name, attributes)
    return urls


def queue_urls(client, names: Iterable[str]) -> dict[str, str | None]:
    """{name: url} for existing queues; None for a queue that does not exist."""
    urls: dict[str, str | None] = {}
    for name in names:
        try:
            urls[name] = client.get_queue_url(QueueName=name)["QueueUrl"]
        except client.exceptions.QueueDoesNotExist:
            urls[name] = None
    return urls


def missing_queues(client, names: Iterable[str]) -> list[str]:
    """The queues among `names` (full SQS names) that do not exist."""
    return [name for name, url in queue_urls(client, names).items() if url is None]


def missing_queues_message(names: Iterable[str]) -> str:
    """The one line a worker, `/readyz` and `weft_run` give when queues are missing."""
    return (f"SQS queue(s) {', '.join(names)} do not exist: run `python manage.py "
            "weft_sqs_setup` (or start the worker with WEFT_SQS_CREATE_QUEUES=1).")


def queues_status(settings, client=None) -> tuple[str, str | None]:
    """("ok" | "missing" | "unavailable", a message) for the configured work queues of a
    `SqsSettings`: what `/readyz` reports. Unreachable SQS is not a misconfiguration (the
    outbox keeps steps until it is back), missing queues are."""
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        if client is None:
            client = boto3.client("sqs", config=Config(connect_timeout=2, read_timeout=2,
                                                       retries={"max_attempts": 1}),
                                  **settings.boto3_client_kwargs())
        missing = missing_queues(client, [settings.sqs_queue(b) for b in settings.base_queues])
    except (BotoCoreError, ClientError) as exc:
        return "unavailable", f"SQS did not answer: {exc}"
    return ("missing", missing_queues_message(missing)) if missing else ("ok", None)


def ensure_queues_for(settings, client=None, extra: Iterable[str] = ()) -> dict[str, str]:
    """`ensure_queues` for a `workflows.sqs.config.SqsSettings` (its queues plus `extra` bases)."""
    if client is None:
        import boto3

        client = boto3.client("sqs", **settings.boto3_client_kwargs())
    bases = list(settings.base_queues) + [b for b in extra if b not in settings.base_queues]
    return ensure_queues(
        client,
        [settings.sqs_queue(base) for base in bases],
        visibility_timeout=settings.visibility_timeout,
        max_receive_count=settings.max_receive_count,
        fifo=settings.fifo,
    )


# --- dead letters ---------------------------------------------------------------------------
def receive_dead_letters(
    client, dlq_url: str, max_messages: int = 10, wait: int = 0, visibility_timeout: int = 30
) -> list[dict[str, Any]]:
    """Receive up to `max_messages` (≤ 10) dead letters, hidden for `visibility_timeout` s.

    Each: message_id, receipt_handle, body (raw), attributes (ApproximateReceiveCount,
    SentTimestamp, ... as ints where numeric), message_attributes.
    """
    response = client.receive_message(
        QueueUrl=dlq_url,
        MaxNumberOfMessages=max(1, min(max_messages, 10)),
        WaitTimeSeconds=wait,
        VisibilityTimeout=visibility_timeout,
        MessageSystemAttributeNames=["All"],
        MessageAttributeNames=["All"],
    )
    letters = []
    for message in response.get("Messages", []):
        attributes = {
            key: int(value) if value.isdigit() else value
            for key, value in message.get("Attributes", {}).items()
        }
        letters.append(
            {
                "message_id": message["MessageId"],
                "receipt_handle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": attributes,
                "message_attributes": message.get("MessageAttributes", {}),
            }
        )
    return letters


def delete_message(client, queue_url: str, receipt_handle: str) -> None:
    client.delete_message(QueueUrl=queue_url, ReceiptHandle=receipt_handle)


# --- kombu's message envelope ---------------------------------------------------------------
def _maybe_base64(body: str) -> str:
    text = body.strip()
    if text.startswith("{"):
        return text  # sqs_base64_encoding=False
    try:
        return base64.b64decode(text, validate=True).decode("utf-8")
    except (binascii.Error, ValueError) as exc:
        raise ValueError("not a kombu SQS message (neither JSON nor base64 JSON)") from exc


def decode_celery_message(body: str | bytes) -> dict[str, Any]:
    """The Celery task inside a kombu-on-SQS message body.

    The SQS body is base64 (kombu's default `sqs_base64_encoding`) of kombu's JSON envelope
    `{"body", "content-encoding", "content-type", "headers", "properties"}`; `headers` carry the
    task protocol 2 fields (`task`, `id`, `retries`, `root_id`, ...), `body` is base64 of the JSON
    `[args, kwargs, embed]`. Returns task, id, args, kwargs, headers, properties.
    """
    if isinstance(body, bytes):
        body = body.decode("utf-8")
    envelope = json.loads(_maybe_base64(body))
    if not isinstance(envelope, dict) or "headers" not in envelope:
        raise ValueError("not a kombu message envelope")
    headers = envelope.get("headers") or {}
    properties = envelope.get("properties") or {}
    payload: Any = envelope.get("body")
    if properties.get("body_encoding") == "base64" and isinstance(payload, str):
        payload = base64.b64decode(payload).decode("utf-8")
    content_type = envelope.get("content-type", "application/json")
    if content_type != "application/json":
        raise ValueError(f"cannot decode a {content_type} task body (JSON only)")
    decoded = json.loads(payload) if isinstance(payload, str) else payload
    args: list = []
    kwargs: dict = {}
    if isinstance(decoded, list) and len(decoded) == 3:  # task protocol 2
        args, kwargs = list(decoded[0]), dict(decoded[1])
    elif isinstance(decoded, dict):  # task protocol 1
        args, kwargs = list(decoded.get("args", [])), dict(decoded.get("kwargs", {}))
        headers = {"task": decoded.get("task"), "id": decoded.get("id"), **headers}
    return {
        "task": headers.get("task"),
        "id": headers.get("id") or properties.get("correlation_id"),
        "args": args,
        "kwargs": kwargs,
        "headers": headers,
        "properties": properties,
    }
