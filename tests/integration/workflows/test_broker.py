"""The broker adapter sends a step as the message the Celery task `weft.run_step` consumes: by
task name, on the step's queue, with no result stored (the same message `apply_async` sent
before the adapter stopped importing the tasks)."""

import uuid

from celery import current_app
from django.conf import settings

from workflows.broker import RUN_STEP_TASK, RUN_STEPS_TASK, publish_step, publish_steps
from workflows.tasks import process_step, process_steps


def receive_one(base_queue: str):
    with current_app.connection_for_read() as connection:
        queue = connection.SimpleQueue(settings.WEFT_SQS.celery_queue(base_queue))
        try:
            message = queue.get(timeout=2)
            message.ack()
            return message
        finally:
            queue.close()


def test_a_step_is_sent_by_task_name_to_its_queue():
    queue, step_id = f"broker-{uuid.uuid4().hex[:8]}", uuid.uuid4()
    publish_step(step_id=step_id, queue=queue)
    message = receive_one(queue)
    args, kwargs, _ = message.decode()
    assert message.headers["task"] == RUN_STEP_TASK == process_step.name
    assert (args, kwargs) == ([str(step_id)], {})
    assert message.headers["ignore_result"] is True


def test_several_steps_go_in_one_message_for_the_batch_task():
    queue, step_ids = f"broker-{uuid.uuid4().hex[:8]}", [uuid.uuid4(), uuid.uuid4()]
    publish_steps(step_ids=step_ids, queue=queue)
    message = receive_one(queue)
    args, _, _ = message.decode()
    assert message.headers["task"] == RUN_STEPS_TASK == process_steps.name
    assert args == [[str(step_id) for step_id in step_ids]]
