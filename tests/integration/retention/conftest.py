"""Retention tests run against PostgreSQL and the local S3: the moto server that serves SQS in
the other suites, over real HTTP."""

import uuid
from datetime import timedelta

import boto3
import pytest
from botocore.config import Config
from django.utils import timezone

from tests.e2e.support.fixtures import local_sqs  # noqa: F401
from tests.integration.execution.conftest import operator, publish, sequence  # noqa: F401
from workflows.models import WorkflowInstance
from workflows.services.archive import archive_store_from_settings
from workflows.services.inline import instance_execute


@pytest.fixture
def s3(local_sqs, monkeypatch, settings):  # noqa: F811
    """A boto3 S3 client on the local server, and the settings pointing the archive at it."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    settings.WEFT_ARCHIVE_ENDPOINT_URL = local_sqs.url
    settings.WEFT_ARCHIVE_REGION = "us-east-1"
    return boto3.client("s3", endpoint_url=local_sqs.url, region_name="us-east-1",
                        config=Config(s3={"addressing_style": "path"}))


@pytest.fixture
def bucket(s3, settings):
    """A fresh bucket configured as the archive (`WEFT_ARCHIVE_BUCKET`)."""
    name = f"weft-archive-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=name)
    settings.WEFT_ARCHIVE_BUCKET = name
    settings.WEFT_ARCHIVE_PREFIX = "archive"
    return name


@pytest.fixture
def store(bucket):
    return archive_store_from_settings()


WRITES = sequence("writes", [
    {"id": "hello", "type": "WriteLine", "text": {"template": "hello {{ input.name }}"}},
    {"id": "out", "type": "SetOutput", "output": "greeting", "value": {"expr": "input.name"}},
], inputs=[{"name": "name", "type": "string", "default": "ada"}],
    outputs=[{"name": "greeting", "type": "string"}])

FAULTS = sequence("faults", [{"id": "boom", "type": "Fault", "message": "boom", "code": "E1"}])


def ended(tenant, definition_id: str, *, days_ago: float, **kwargs) -> WorkflowInstance:
    """An instance run to its end, which ended `days_ago` days ago."""
    instance = instance_execute(tenant=tenant, definition_id=definition_id, **kwargs)
    assert instance.status in ("finished", "faulted")
    finished_at = timezone.now() - timedelta(days=days_ago)
    WorkflowInstance.objects.filter(pk=instance.pk).update(finished_at=finished_at)
    instance.refresh_from_db()
    return instance
