import pytest

from tests.integration.payloads.conftest import BIG, COPIES
from workflows import payloads
from workflows.models import (
    ActivityExecution,
    PayloadLink,
    PayloadObject,
    WorkflowInstance,
)
from workflows.services.inline import instance_execute

pytestmark = pytest.mark.django_db


def raw_columns(instance_id, *columns: str) -> dict:
    """The columns as the database holds them (text, not through the model fields)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {', '.join(c + '::text' for c in columns)} "
                       "FROM workflows_workflowinstance WHERE id = %s", [instance_id])
        return dict(zip(columns, cursor.fetchone(), strict=True))


def test_a_large_variable_is_stored_once_in_s3_and_read_back(tenant, publish, s3, bucket):
    publish(COPIES)
    instance = instance_execute(tenant=tenant, definition_id="copies", input={"data": BIG})
    assert instance.status == "finished"

    raw = raw_columns(instance.pk, "input", "output", "variables", "state")
    for column, text in raw.items():
        assert payloads.MARK in text, column
        assert len(text) < 2000, column
    objects = list(PayloadObject.objects.filter(tenant=tenant))
    assert len(objects) == 1  # the same 5000 characters, everywhere: one object
    (obj,) = objects
    assert (obj.store, obj.stored, obj.size) == ("s3", True, len(BIG) + 2)
    assert obj.key == f"archive/payloads/{tenant.pk}/{obj.sha256[:2]}/{obj.sha256}.json.gz"
    head = s3.head_object(Bucket=bucket, Key=obj.key)
    assert head["ContentLength"] == obj.stored_size < 200
    assert PayloadLink.objects.filter(object=obj, instance_id=instance.pk).exists()

    payloads.cache.clear()
    fresh = WorkflowInstance.objects.get(pk=instance.pk)
    assert fresh.input == {"data": BIG}
    assert fresh.variables == {"kept": BIG, "length": 5000}
    assert fresh.output == {"copy": BIG, "length": 5000}
    assert fresh.state["variables"]["kept"] == BIG
    record = ActivityExecution.objects.get(instance=instance, activity_id="out")
    assert record.output == BIG
