"""Values above WEFT_PAYLOAD_INLINE_BYTES (1,000 here) are stored apart and read back as they
were: rows, S3 (moto over HTTP) and the database fallback, the API, the archive, retention."""

import gzip
import json
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from tests.integration.execution.conftest import drain_steps
from tests.integration.payloads.conftest import BIG, COPIES, sequence
from tests.integration.retention.conftest import ended
from workflows import payloads
from workflows.models import (
    ActivityExecution,
    InstanceArchive,
    JournalEntry,
    PayloadLink,
    PayloadObject,
    RetainedEvent,
    Step,
    WorkflowInstance,
)
from workflows.services.events import event_publish
from workflows.services.inline import instance_execute
from workflows.services.payloads import payloads_sweep
from workflows.services.retention import retention_apply

pytestmark = pytest.mark.django_db


def raw_columns(table: str, pk, *columns: str) -> dict:
    """The columns as the database holds them (text, not through the model fields)."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {', '.join(c + '::text' for c in columns)} "
                       f"FROM {table} WHERE id = %s", [pk])
        return dict(zip(columns, cursor.fetchone(), strict=True))


def s3_text(s3, bucket: str, key: str) -> str:
    return gzip.decompress(s3.get_object(Bucket=bucket, Key=key)["Body"].read()).decode()


def test_a_large_variable_is_stored_once_in_s3_and_read_back(tenant, publish, s3, bucket):
    publish(COPIES)
    instance = instance_execute(tenant=tenant, definition_id="copies", input={"data": BIG})
    assert instance.status == "finished"

    raw = raw_columns("workflows_workflowinstance", instance.pk,
                      "input", "output", "variables", "state")
    for column, text in raw.items():
        assert payloads.MARK in text, column
        assert len(text) < 2000, column
    # The same 5,000 characters in input, variables, output, state, journal and records: one
    # object, compressed.
    (obj,) = PayloadObject.objects.filter(tenant=tenant)
    assert (obj.store, obj.stored, obj.size) == ("s3", True, len(BIG) + 2)
    assert obj.key == f"archive/payloads/{tenant.pk}/{obj.sha256[:2]}/{obj.sha256}.json.gz"
    assert s3.head_object(Bucket=bucket, Key=obj.key)["ContentLength"] == obj.stored_size < 200
    assert json.loads(s3_text(s3, bucket, obj.key)) == BIG
    assert PayloadLink.objects.filter(object=obj, instance_id=instance.pk).exists()
    record = ActivityExecution.objects.get(instance=instance, activity_id="out")
    assert payloads.MARK in raw_columns("workflows_activityexecution", record.pk,
                                        "output")["output"]

    payloads.cache.clear()  # read from S3, not from what this process wrote
    fresh = WorkflowInstance.objects.get(pk=instance.pk)
    assert fresh.input == {"data": BIG}
    # The expression `len(variables.kept)` saw the value itself.
    assert fresh.variables == {"kept": BIG, "length": 5000}
    assert fresh.output == {"copy": BIG, "length": 5000}
    assert fresh.state["activity_outputs"]["keep"] == BIG
    assert ActivityExecution.objects.get(pk=record.pk).output == BIG


def test_identical_values_of_two_instances_are_one_object_with_two_links(tenant, publish,
                                                                         bucket):
    publish(COPIES)
    first = instance_execute(tenant=tenant, definition_id="copies", input={"data": BIG})
    second = instance_execute(tenant=tenant, definition_id="copies", input={"data": BIG})
    other = instance_execute(tenant=tenant, definition_id="copies", input={"data": BIG + "y"})

    assert PayloadObject.objects.filter(tenant=tenant).count() == 2
    shared = PayloadObject.objects.get(tenant=tenant, size=len(BIG) + 2)
    assert set(PayloadLink.objects.filter(object=shared).values_list("instance_id", flat=True)) \
        == {first.pk, second.pk}
    assert WorkflowInstance.objects.get(pk=other.pk).output["copy"] == BIG + "y"


def test_small_values_stay_in_the_row(tenant, publish, bucket):
    publish(COPIES)
    instance = instance_execute(tenant=tenant, definition_id="copies", input={"data": "small"})

    assert instance.output == {"copy": "small", "length": 5}
    assert not PayloadObject.objects.exists()
    raw = raw_columns("workflows_workflowinstance", instance.pk, "variables", "state")
    assert payloads.MARK not in raw["state"] and '"kept": "small"' in raw["variables"]


@pytest.mark.parametrize("bucket_name, store", [("", ""), ("weft-archive", "db")])
def test_without_a_bucket_values_are_stored_in_the_database(tenant, publish, settings,
                                                           bucket_name, store):
    # No bucket; or one, and WEFT_PAYLOAD_STORE=db (what `make run` says of its in-memory S3).
    settings.WEFT_ARCHIVE_BUCKET = bucket_name
    settings.WEFT_PAYLOAD_STORE = store
    publish(COPIES)
    instance = instance_execute(tenant=tenant, definition_id="copies", input={"data": BIG})

    (obj,) = PayloadObject.objects.filter(tenant=tenant)
    assert (obj.store, obj.stored, obj.key) == ("db", True, "")
    assert json.loads(gzip.decompress(bytes(obj.data))) == BIG
    assert payloads.MARK in raw_columns("workflows_workflowinstance", instance.pk,
                                        "variables")["variables"]
    payloads.cache.clear()
    assert WorkflowInstance.objects.get(pk=instance.pk).output["copy"] == BIG


def test_a_large_list_and_many_medium_values_are_stored_too(tenant, publish, bucket):
    publish(COPIES)
    rows = [{"n": n, "text": "r" * 40} for n in range(100)]  # one large list
    medium = {f"k{n}": "m" * 600 for n in range(5)}  # none large, together large
    instance = instance_execute(tenant=tenant, definition_id="copies",
                                input={"data": "s", "rows": rows, "medium": medium})

    raw = raw_columns("workflows_workflowinstance", instance.pk, "input")["input"]
    assert len(raw) < 1000 and raw.count(payloads.MARK) == 2
    payloads.cache.clear()
    assert WorkflowInstance.objects.get(pk=instance.pk).input == {
        "data": "s", "rows": rows, "medium": medium}


def test_secrets_in_a_large_value_stay_sealed_in_the_object(tenant, publish, s3, bucket):
    publish(sequence("sealed", [
        {"id": "keep", "type": "SetVariable", "variable": "config",
         "value": {"expr": "input.config"}},
    ], inputs=[{"name": "config", "type": "object"}],
        variables=[{"name": "config", "type": "object"}]))
    config = {"api_token": "tok-very-secret-value", "notes": BIG}
    instance = instance_execute(tenant=tenant, definition_id="sealed",
                                input={"config": config})

    texts = [s3_text(s3, bucket, key) for key in
             PayloadObject.objects.filter(tenant=tenant).values_list("key", flat=True)]
    assert texts and not any("tok-very-secret-value" in text for text in texts)
    payloads.cache.clear()
    assert WorkflowInstance.objects.get(pk=instance.pk).variables["config"] == config


def test_a_stored_object_the_sweep_took_is_stored_again_by_the_next_writer(tenant, publish, s3,
                                                                           bucket):
    publish(COPIES)
    instance_execute(tenant=tenant, definition_id="copies", input={"data": BIG})
    obj = PayloadObject.objects.get(tenant=tenant)
    # A sweep that marked it and deleted the S3 object, then stopped before deleting the row.
    PayloadObject.objects.filter(pk=obj.pk).update(stored=False)
    s3.delete_object(Bucket=bucket, Key=obj.key)

    again = instance_execute(tenant=tenant, definition_id="copies", input={"data": BIG})

    assert PayloadObject.objects.get(pk=obj.pk).stored
    assert json.loads(s3_text(s3, bucket, obj.key)) == BIG
    payloads.cache.clear()
    assert WorkflowInstance.objects.get(pk=again.pk).output["copy"] == BIG


def test_the_api_returns_full_values(tenant, publish, operator, bucket):
    publish(COPIES)
    response = operator.post("/api/v1/definitions/copies/dispatch/",
                             {"input": {"data": BIG}}, format="json")
    assert response.status_code == 202, response.content
    instance_id = response.json()["id"]
    drain_steps()
    payloads.cache.clear()

    detail = operator.get(f"/api/v1/instances/{instance_id}/").json()
    assert detail["status"] == "finished"
    assert detail["input"] == {"data": BIG}
    assert detail["output"] == {"copy": BIG, "length": 5000}
    assert detail["variables"]["kept"] == BIG
    executions = operator.get(f"/api/v1/instances/{instance_id}/activity-executions/").json()
    outputs = {e["activity_id"]: e["output"] for e in executions["results"]}
    assert outputs["keep"] == BIG and outputs["out"] == BIG
    listed = operator.get("/api/v1/instances/").json()["results"]
    assert payloads.MARK not in json.dumps(listed)
    journal = operator.get(f"/api/v1/instances/{instance_id}/journal/").json()
    assert payloads.MARK not in json.dumps(journal)


WAITS = sequence("waits", [
    {"id": "wait", "type": "Event", "event": "arrived"},
    {"id": "out", "type": "SetOutput", "output": "got", "value": {"expr": "outputs.wait"}},
], outputs=[{"name": "got", "type": "any"}])


def test_a_large_event_payload_reaches_the_waiting_instance(tenant, publish, operator, bucket):
    publish(WAITS)
    instance = instance_execute(tenant=tenant, definition_id="waits")
    assert instance.status == "suspended"
    payload = {"blob": BIG}

    response = operator.post("/api/v1/events/arrived/", {"payload": payload}, format="json")
    assert response.status_code == 200 and response.json()["resumed"]
    step = Step.objects.filter(instance=instance, kind="resume").get()
    assert payloads.MARK in raw_columns("workflows_step", step.pk, "payload")["payload"]
    drain_steps()

    payloads.cache.clear()
    assert WorkflowInstance.objects.get(pk=instance.pk).output == {"got": payload}


def test_a_retained_event_keeps_its_payload_object_until_it_expires(tenant, publish, settings,
                                                                    bucket):
    settings.WEFT_PAYLOAD_SWEEP_GRACE_SECONDS = 0
    event_publish(tenant=tenant, name="early", payload={"blob": BIG}, retain_seconds=60)
    event = RetainedEvent.objects.get(tenant=tenant)
    assert payloads.MARK in raw_columns("workflows_retainedevent", event.pk,
                                        "payload")["payload"]

    later = timezone.now() + timedelta(seconds=1)
    assert payloads_sweep(now=later) == 0
    assert RetainedEvent.objects.get(pk=event.pk).payload == {"blob": BIG}

    event.delete()  # expired and purged
    PayloadObject.objects.update(check_after=timezone.now())
    assert payloads_sweep(now=later + timedelta(seconds=1)) == 1
    assert not PayloadObject.objects.exists()


def test_the_archive_inlines_values_and_retention_cleans_up(tenant, publish, store, s3, bucket,
                                                            settings):
    settings.WEFT_PAYLOAD_SWEEP_GRACE_SECONDS = 0
    publish(COPIES)
    gone = ended(tenant, "copies", days_ago=31, input={"data": BIG})
    kept = ended(tenant, "copies", days_ago=1, input={"data": BIG})
    alone = ended(tenant, "copies", days_ago=31, input={"data": BIG + "z"})
    objects = dict(PayloadObject.objects.values_list("size", "key"))
    assert len(objects) == 2

    # A tick a moment later (the grace period is 0 here): the sweep sees what the deletes freed.
    report = retention_apply(store=store, now=timezone.now() + timedelta(seconds=1))

    assert (report.archived, report.deleted) == (2, 2)
    for instance, value in ((gone, BIG), (alone, BIG + "z")):
        record = InstanceArchive.objects.get(instance_id=instance.pk)
        text = s3_text(s3, bucket, record.key)
        assert payloads.MARK not in text
        lines = [json.loads(line) for line in text.splitlines()]
        assert lines[0]["data"]["output"] == {"copy": value, "length": len(value)}
        assert lines[0]["data"]["input"] == {"data": value}
        outputs = [line["data"]["output"] for line in lines
                   if line["record"] == "activity_execution"]
        assert value in outputs
    assert not PayloadLink.objects.filter(instance_id__in=[gone.pk, alone.pk]).exists()
    # The object only `alone` referred to is gone, from the table and from S3; the one `kept`
    # still refers to stays.
    assert report.payloads_deleted == 1
    (left,) = PayloadObject.objects.all()
    assert left.key == objects[len(BIG) + 2]
    assert s3.list_objects_v2(Bucket=bucket, Prefix="archive/payloads/")["KeyCount"] == 1
    payloads.cache.clear()
    assert WorkflowInstance.objects.get(pk=kept.pk).output["copy"] == BIG
    assert JournalEntry.objects.filter(instance=kept).exists()


def test_deleting_an_instance_lets_the_sweep_take_its_objects(tenant, publish, operator,
                                                              settings, bucket):
    settings.WEFT_PAYLOAD_SWEEP_GRACE_SECONDS = 0
    publish(COPIES)
    instance = instance_execute(tenant=tenant, definition_id="copies", input={"data": BIG})
    assert payloads_sweep() == 0  # a new object, still referred to: left alone
    assert PayloadObject.objects.get().check_after is None

    assert operator.delete(f"/api/v1/instances/{instance.pk}/").status_code == 204

    assert payloads_sweep(now=timezone.now() + timedelta(seconds=1)) == 1
    assert not PayloadObject.objects.exists()


def test_an_update_stores_inline_unless_the_writer_names_the_row(tenant, publish, bucket):
    publish(COPIES)
    instance = instance_execute(tenant=tenant, definition_id="copies", input={"data": "s"})
    value = {"kept": BIG + "u"}

    WorkflowInstance.objects.filter(pk=instance.pk).update(variables=value)
    assert payloads.MARK not in raw_columns("workflows_workflowinstance", instance.pk,
                                            "variables")["variables"]

    payloads.note_owner(value, instance)
    WorkflowInstance.objects.filter(pk=instance.pk).update(variables=value)
    assert payloads.MARK in raw_columns("workflows_workflowinstance", instance.pk,
                                        "variables")["variables"]
    payloads.cache.clear()
    assert WorkflowInstance.objects.get(pk=instance.pk).variables == value
    assert PayloadLink.objects.filter(instance_id=instance.pk).count() == 1


def test_a_stored_value_s3_cannot_serve_is_a_503_not_a_500(tenant, publish, operator, bucket,
                                                           settings):
    publish(COPIES)
    instance = instance_execute(tenant=tenant, definition_id="copies", input={"data": BIG})
    payloads.cache.clear()
    settings.WEFT_ARCHIVE_ENDPOINT_URL = "http://127.0.0.1:9"  # nothing listens there

    response = operator.get(f"/api/v1/instances/{instance.pk}/")

    assert response.status_code == 503
    assert response.json()["error"]["code"] == "payload_unavailable"
