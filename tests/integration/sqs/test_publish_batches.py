"""Issue 8 holes 4 and 10 on a real local SQS server: the messages of a queue go out in
`SendMessageBatch` requests (kombu's envelope, as `weft.run_step` consumes it), and on FIFO
queues each step is its own message group with a deduplication id per publish."""

import pytest

from tests.e2e.support.fixtures import (
    celery_publisher,
    ensure_test_queues,
    sqs_client,
    sqs_env,
    unique_prefix,
)
from tests.e2e.support.proxy import FlakyProxy
from workflows.broker import RUN_STEP_TASK, RUN_STEPS_TASK, StepMessage, publish_messages
from workflows.sqs.config import sqs_settings
from workflows.sqs.queues import decode_celery_message


@pytest.fixture
def broker(local_sqs, settings):
    """(env, proxy, app): a Celery app publishing through a proxy that records SQS actions,
    and `settings.WEFT_SQS` describing the same queues."""

    def make(**overrides):
        env = sqs_env(local_sqs, WEFT_QUEUE_PREFIX=unique_prefix(), WEFT_SQS_QUEUES="billing",
                      **overrides)
        ensure_test_queues(env, "billing")
        proxy = FlakyProxy(local_sqs.url).start()
        proxied = {**env, "AWS_ENDPOINT_URL_SQS": proxy.url}
        settings.WEFT_SQS = sqs_settings(proxied)
        made.append(proxy)
        return env, proxy, celery_publisher(proxied)

    made = []
    yield make
    for proxy in made:
        proxy.stop()


def receive_all(env, base: str, *, per_call: int = 10, delete: bool = True) -> list[dict]:
    client = sqs_client(env)
    url = client.get_queue_url(QueueName=sqs_settings(env).sqs_queue(base))["QueueUrl"]
    received = []
    while True:
        answer = client.receive_message(QueueUrl=url, MaxNumberOfMessages=per_call,
                                        WaitTimeSeconds=0, AttributeNames=["All"])
        messages = answer.get("Messages", [])
        if not messages:
            return received
        for message in messages:
            received.append({**decode_celery_message(message["Body"]),
                             "group": message.get("Attributes", {}).get("MessageGroupId")})
            if delete:
                client.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def singles(count: int, publish_number: int = 1) -> list[StepMessage]:
    return [StepMessage(((f"step-{i}", publish_number),)) for i in range(count)]


def test_messages_of_a_queue_go_in_send_message_batch_requests_of_ten(broker):
    env, proxy, app = broker()
    messages = [*singles(25), StepMessage((("many-1", 1), ("many-2", 1)))]
    assert publish_messages(queue="billing", messages=messages, app=app) == []
    sends = [a for a in proxy.actions if a.startswith("SendMessage")]
    assert sends == ["SendMessageBatch"] * 3  # 10 + 10 + 6 entries, no single sends
    received = receive_all(env, "billing")
    assert sorted(m["args"][0] for m in received if m["task"] == RUN_STEP_TASK) == \
        sorted(f"step-{i}" for i in range(25))
    assert [m["args"][0] for m in received if m["task"] == RUN_STEPS_TASK] == \
        [["many-1", "many-2"]]
    assert receive_all(env, "default") == []


def test_messages_sqs_refuses_are_returned_for_the_sweeper(broker):
    env, proxy, app = broker()
    messages = singles(12)
    publish_messages(queue="billing", messages=messages[:1], app=app)  # queue URL known
    proxy.down = True
    assert publish_messages(queue="billing", messages=messages, app=app) == messages
    proxy.down = False
    assert [m["args"][0] for m in receive_all(env, "billing")] == ["step-0"]


def test_on_fifo_queues_each_step_is_its_own_message_group(broker):
    env, _, app = broker(WEFT_SQS_FIFO="1")
    assert publish_messages(queue="billing", messages=singles(3), app=app) == []
    # Received one at a time and left in flight: with one group per instance (the old way) the
    # second receive would find the group locked; per step, all three are available at once.
    received = receive_all(env, "billing", per_call=1, delete=False)
    assert sorted(m["args"][0] for m in received) == ["step-0", "step-1", "step-2"]
    assert sorted(m["group"] for m in received) == ["step-0", "step-1", "step-2"]


def test_on_fifo_queues_a_resend_of_one_publish_is_dropped_but_a_new_publish_is_not(broker):
    env, _, app = broker(WEFT_SQS_FIFO="1")
    publish_messages(queue="billing", messages=singles(1), app=app)
    publish_messages(queue="billing", messages=singles(1), app=app)  # the same publish again
    assert [m["args"][0] for m in receive_all(env, "billing")] == ["step-0"]
    publish_messages(queue="billing", messages=singles(1, publish_number=2), app=app)
    assert [m["args"][0] for m in receive_all(env, "billing")] == ["step-0"]
