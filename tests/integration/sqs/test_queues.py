"""Queues and dead-letter queues on a real local SQS server (moto in a subprocess)."""

import io
import json

import pytest

from tests.e2e.support.fixtures import sqs_client, sqs_env, unique_prefix
from workflows.sqs.config import sqs_settings
from workflows.sqs.queues import (
    dead_letter_queue_name,
    ensure_queues,
    queue_name,
    queue_names,
    queue_urls,
)


@pytest.fixture
def env(local_sqs):
    return sqs_env(local_sqs, WEFT_QUEUE_PREFIX=unique_prefix())


def attributes(client, url):
    return client.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]


def test_design_names():
    assert queue_name("workflow-tasks") == "workflow-tasks"
    assert queue_name("workflow-tasks", fifo=True) == "workflow-tasks.fifo"
    assert dead_letter_queue_name("workflow-tasks") == "workflow-tasks-dlq"
    assert dead_letter_queue_name("workflow-tasks", fifo=True) == "workflow-tasks-dlq.fifo"
    assert queue_name("billing", prefix="acme.") == "acme-billing"
    assert queue_names(["workflow-tasks", "billing"]) == [
        "workflow-tasks-dlq",
        "workflow-tasks",
        "billing-dlq",
        "billing",
    ]
    with pytest.raises(ValueError):
        queue_name("x" * 81)


@pytest.mark.parametrize("fifo", [False, True], ids=["standard", "fifo"])
def test_ensure_queues_creates_queue_and_dlq_with_redrive_idempotently(env, fifo):
    client = sqs_client(env)
    prefix = env["WEFT_QUEUE_PREFIX"]
    name = queue_name("workflow-tasks", prefix=prefix, fifo=fifo)
    dlq = dead_letter_queue_name("workflow-tasks", prefix=prefix, fifo=fifo)

    first = ensure_queues(client, [name], visibility_timeout=42, fifo=fifo)
    again = ensure_queues(client, [name], visibility_timeout=42, fifo=fifo)

    assert first == again
    assert set(first) == {name, dlq}
    queue, dead = attributes(client, first[name]), attributes(client, first[dlq])
    assert queue["VisibilityTimeout"] == "42"
    redrive = json.loads(queue["RedrivePolicy"])
    assert int(redrive["maxReceiveCount"]) == 3
    assert redrive["deadLetterTargetArn"] == dead["QueueArn"]
    assert (queue.get("FifoQueue") == "true") is fifo
    assert (dead.get("FifoQueue") == "true") is fifo
    assert queue_urls(client, [name, dlq, prefix + "missing"]) == {
        name: first[name],
        dlq: first[dlq],
        prefix + "missing": None,
    }


def test_ensure_queues_converges_a_queue_created_without_redrive(env):
    client = sqs_client(env)
    name = queue_name("workflow-tasks", prefix=env["WEFT_QUEUE_PREFIX"])
    client.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "30"})

    urls = ensure_queues(client, [name], visibility_timeout=300)

    queue = attributes(client, urls[name])
    assert queue["VisibilityTimeout"] == "300"
    assert int(json.loads(queue["RedrivePolicy"])["maxReceiveCount"]) == 3


def test_predefined_queue_urls_match_the_server(env):
    settings = sqs_settings({**env, "WEFT_SQS_QUEUES": "billing"})
    predefined = settings.transport_options()["predefined_queues"]
    client = sqs_client(env)

    created = ensure_queues(
        client, list(predefined), visibility_timeout=settings.visibility_timeout
    )

    assert {name: created[name] for name in predefined} == {
        name: entry["url"] for name, entry in predefined.items()
    }


def test_setup_command_creates_configured_and_extra_queues(env, settings):
    from django.core.management import call_command

    settings.WEFT_SQS = sqs_settings(env)
    out, err = io.StringIO(), io.StringIO()

    call_command("weft_sqs_setup", "--queue", "billing", stdout=out, stderr=err)

    prefix = env["WEFT_QUEUE_PREFIX"]
    printed = dict(line.split("\t") for line in out.getvalue().splitlines())
    assert set(printed) == {
        f"{prefix}workflow-tasks-dlq",
        f"{prefix}workflow-tasks",
        f"{prefix}billing-dlq",
        f"{prefix}billing",
    }
    assert "WEFT_SQS_QUEUES" in err.getvalue()  # billing is not a configured queue yet
    client = sqs_client(env)
    assert all(queue_urls(client, printed).values())


def test_setup_command_refuses_a_non_sqs_broker(settings):
    from django.core.management import call_command
    from django.core.management.base import CommandError

    settings.WEFT_SQS = sqs_settings({})

    with pytest.raises(CommandError, match="not SQS"):
        call_command("weft_sqs_setup")
