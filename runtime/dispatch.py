"""Publishing a step to the broker: one message per step, on its definition's queue.

On FIFO queues every step of an instance shares a message group (so one instance's steps stay
in order while instances run in parallel), and the deduplication id changes with every publish
so that a deliberate re-publish by the sweeper is not swallowed as a duplicate.
"""

import uuid

from django.conf import settings


def publish_step(*, step_id, queue: str, group_id) -> None:
    from runtime.tasks import run_step

    sqs = settings.WEFT_SQS
    options: dict = {"queue": sqs.celery_queue(queue)}
    if sqs.fifo:
        options["MessageGroupId"] = str(group_id)
        options["MessageDeduplicationId"] = f"{step_id}:{uuid.uuid4().hex}"
    run_step.apply_async(args=[str(step_id)], **options)


def publish_steps(*, step_ids: list, queue: str) -> None:
    """One message for several steps (all on one queue); a worker runs them in turn."""
    from runtime.tasks import run_steps

    sqs = settings.WEFT_SQS
    options: dict = {"queue": sqs.celery_queue(queue)}
    if sqs.fifo:
        # Steps of different instances: no order among them to keep.
        options["MessageGroupId"] = f"batch-{uuid.uuid4().hex}"
        options["MessageDeduplicationId"] = uuid.uuid4().hex
    run_steps.apply_async(args=[[str(step_id) for step_id in step_ids]], **options)
