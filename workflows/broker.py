"""The broker adapter: publishing a step is sending one message, by task name, on its
definition's queue. It never imports `workflows.tasks` (the tasks call the services, which call
this module: importing the tasks here would close a loop).

On FIFO queues every step of an instance shares a message group (so one instance's steps stay
in order while instances run in parallel), and the deduplication id changes with every publish
so that a deliberate re-publish by the sweeper is not swallowed as a duplicate.
"""

import uuid

from celery import current_app
from django.conf import settings

# The names `workflows.tasks` registers; persisted in messages and dead letters: never rename.
RUN_STEP_TASK = "weft.run_step"
RUN_STEPS_TASK = "weft.run_steps"


def publish_step(*, step_id, queue: str, group_id) -> None:
    sqs = settings.WEFT_SQS
    options: dict = {"queue": sqs.celery_queue(queue)}
    if sqs.fifo:
        options["MessageGroupId"] = str(group_id)
        options["MessageDeduplicationId"] = f"{step_id}:{uuid.uuid4().hex}"
    current_app.send_task(RUN_STEP_TASK, args=[str(step_id)], ignore_result=True, **options)


def publish_steps(*, step_ids: list, queue: str) -> None:
    """One message for several steps (all on one queue); a worker runs them in turn."""
    sqs = settings.WEFT_SQS
    options: dict = {"queue": sqs.celery_queue(queue)}
    if sqs.fifo:
        # Steps of different instances: no order among them to keep.
        options["MessageGroupId"] = f"batch-{uuid.uuid4().hex}"
        options["MessageDeduplicationId"] = uuid.uuid4().hex
    current_app.send_task(RUN_STEPS_TASK, args=[[str(step_id) for step_id in step_ids]],
                          ignore_result=True, **options)
