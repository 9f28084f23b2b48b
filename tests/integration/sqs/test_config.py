"""Celery's broker settings are a function of the environment alone."""

import pytest

from workflows.sqs.config import celery_broker_settings, sqs_settings

LOCAL = {
    "AWS_ENDPOINT_URL_SQS": "http://127.0.0.1:4566",
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "se/cr+et",
}


def test_local_endpoint_is_the_broker_url_host_with_plain_http():
    settings = celery_broker_settings(LOCAL)

    assert settings["broker_url"] == "sqs://local:se%2Fcr%2Bet@127.0.0.1:4566"
    options = settings["broker_transport_options"]
    assert options["is_secure"] is False
    assert options["region"] == "us-east-1"
    assert options["visibility_timeout"] == 300
    assert options["wait_time_seconds"] == 20
    assert options["polling_interval"] == 0.1
    assert options["queue_name_prefix"] == ""
    assert options["predefined_queues"] == {
        "workflow-tasks": {"url": "http://127.0.0.1:4566/123456789012/workflow-tasks"}
    }


def test_delivery_guarantees_and_no_remote_control():
    settings = celery_broker_settings(LOCAL)

    assert settings["task_acks_late"] is True
    assert settings["task_acks_on_failure_or_timeout"] is False
    assert settings["task_reject_on_worker_lost"] is True
    assert settings["worker_prefetch_multiplier"] == 4
    assert settings["task_default_queue"] == "workflow-tasks"
    assert settings["broker_connection_retry_on_startup"] is True
    assert settings["task_serializer"] == "json"
    assert settings["accept_content"] == ["json"]
    assert settings["worker_send_task_events"] is False
    assert settings["worker_enable_remote_control"] is False


def test_aws_without_endpoint_leaves_credentials_and_urls_to_boto3():
    settings = celery_broker_settings(
        {"AWS_ACCESS_KEY_ID": "AKIA", "AWS_SECRET_ACCESS_KEY": "x", "AWS_REGION": "eu-west-1"}
    )

    assert settings["broker_url"] == "sqs://"
    options = settings["broker_transport_options"]
    assert options["region"] == "eu-west-1"
    assert options["is_secure"] is True
    assert "predefined_queues" not in options  # the account id is unknown


def test_aws_with_account_id_predefines_the_queue_urls():
    settings = celery_broker_settings(
        {"AWS_PROFILE": "prod", "AWS_REGION": "eu-west-1", "WEFT_SQS_ACCOUNT_ID": "111122223333"}
    )

    assert settings["broker_url"] == "sqs://"
    assert settings["broker_transport_options"]["predefined_queues"] == {
        "workflow-tasks": {"url": "https://sqs.eu-west-1.amazonaws.com/111122223333/workflow-tasks"}
    }


def test_fifo_and_prefix_name_the_queues_like_kombu_does():
    settings = celery_broker_settings(
        {
            **LOCAL,
            "WEFT_SQS_FIFO": "1",
            "WEFT_QUEUE_PREFIX": "acme.prod-",
            "WEFT_SQS_QUEUES": "billing",
        }
    )

    # Celery names carry no prefix: kombu adds queue_name_prefix and turns '.' into '-'.
    assert settings["task_default_queue"] == "workflow-tasks.fifo"
    options = settings["broker_transport_options"]
    assert options["queue_name_prefix"] == "acme.prod-"
    assert set(options["predefined_queues"]) == {
        "acme-prod-workflow-tasks.fifo",
        "acme-prod-billing.fifo",
    }
    sqs = sqs_settings({**LOCAL, "WEFT_SQS_FIFO": "1", "WEFT_QUEUE_PREFIX": "acme.prod-"})
    assert sqs.celery_queue("billing") == "billing.fifo"
    assert sqs.celery_queue("default") == "workflow-tasks.fifo"
    assert sqs.sqs_dead_letter_queue() == "acme-prod-workflow-tasks-dlq.fifo"


def test_tuning_variables():
    settings = celery_broker_settings(
        {
            **LOCAL,
            "WEFT_SQS_VISIBILITY_TIMEOUT": "60",
            "WEFT_SQS_WAIT_TIME": "5",
            "WEFT_SQS_POLLING_INTERVAL": "0.5",
            "WEFT_WORKER_PREFETCH": "16",
        }
    )

    options = settings["broker_transport_options"]
    assert (options["visibility_timeout"], options["wait_time_seconds"]) == (60, 5)
    assert options["polling_interval"] == 0.5
    assert settings["worker_prefetch_multiplier"] == 16


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("WEFT_SQS_WAIT_TIME", "21"),
        ("WEFT_SQS_VISIBILITY_TIMEOUT", "-1"),
        ("WEFT_WORKER_PREFETCH", "x"),
    ],
)
def test_out_of_range_values_are_refused_at_startup(name, value):
    with pytest.raises(ValueError, match=name):
        celery_broker_settings({**LOCAL, name: value})


def test_nothing_configured_falls_back_to_the_in_memory_broker():
    settings = celery_broker_settings({})

    assert settings["broker_url"] == "memory://"
    assert "broker_transport_options" not in settings


def test_celery_broker_url_overrides():
    assert celery_broker_settings({**LOCAL, "CELERY_BROKER_URL": "memory://"})["broker_url"] == (
        "memory://"
    )
    explicit = celery_broker_settings({"CELERY_BROKER_URL": "sqs://", "AWS_REGION": "us-west-2"})
    assert explicit["broker_transport_options"]["region"] == "us-west-2"


def test_django_settings_use_the_builder():
    from django.conf import settings

    assert settings.CELERY_TASK_ACKS_LATE is True
    assert settings.CELERY_WORKER_ENABLE_REMOTE_CONTROL is False
    assert settings.WEFT_SQS.broker_url == settings.CELERY_BROKER_URL
