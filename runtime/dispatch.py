"""Publishing a step to the broker: one message per step, on its definition's queue.

On FIFO queues every step of an instance shares a message group (so one instance's steps stay
in order while instances run in parallel), and the deduplication id changes with every publish
so that a deliberate re-publish by the sweeper is not swallowed as a duplicate.
"""

import uuid

from django.conf import settings

from runtime.sqs.queues import queue_name


def broker_queue(queue: str) -> str:
    base = settings.WEFT_DEFAULT_QUEUE if queue in ("", "default", None) else queue
    return queue_name(base, prefix="", fifo=settings.WEFT_SQS_FIFO)


def publish_step(*, step_id, queue: str, group_id) -> None:
    from runtime.tasks import run_step

    options: dict = {"queue": broker_queue(queue)}
    if settings.WEFT_SQS_FIFO:
        options["MessageGroupId"] = str(group_id)
        options["MessageDeduplicationId"] = f"{step_id}:{uuid.uuid4().hex}"
    run_step.apply_async(args=[str(step_id)], **options)
