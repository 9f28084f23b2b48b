import gzip
import json
from datetime import timedelta

import pytest
from django.utils import timezone

from tests.factories import TenantFactory
from tests.integration.retention.conftest import FAULTS, WRITES, ended
from workflows.models import (
    ActivityExecution,
    Incident,
    InstanceArchive,
    JournalEntry,
    RetainedEvent,
    Step,
    WorkflowInstance,
)
from workflows.services.archive import archive_store_from_settings
from workflows.services.retention import retention_apply

pytestmark = pytest.mark.django_db


def read_lines(s3, bucket: str, key: str) -> list[dict]:
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    return [json.loads(line) for line in gzip.decompress(body).decode().splitlines()]


def test_expired_instance_is_archived_with_its_rows_then_deleted(tenant, publish, store, s3,
                                                                 bucket):
    publish(WRITES)
    instance = ended(tenant, "writes", days_ago=31, input={"name": "grace"})
    journal = list(JournalEntry.objects.filter(instance=instance).order_by("sequence")
                   .values_list("sequence", "event", "message"))
    executions = ActivityExecution.objects.filter(instance=instance).count()
    assert journal and executions

    report = retention_apply(store=store)

    assert (report.archived, report.deleted, report.failed) == (1, 1, 0)
    assert not WorkflowInstance.objects.filter(pk=instance.pk).exists()
    assert not JournalEntry.objects.filter(instance_id=instance.pk).exists()
    assert not ActivityExecution.objects.filter(instance_id=instance.pk).exists()
    assert not Step.objects.filter(instance_id=instance.pk).exists()
    record = InstanceArchive.objects.get(instance_id=instance.pk)
    day = instance.finished_at
    assert record.key == (f"archive/acme/writes/{day:%Y}/{day:%m}/{day:%d}/"
                          f"{instance.pk}.jsonl.gz")
    lines = read_lines(s3, bucket, record.key)
    assert lines[0]["record"] == "instance"
    assert lines[0]["data"]["id"] == str(instance.pk)
    assert lines[0]["data"]["output"] == {"greeting": "grace"}
    assert [(line["data"]["sequence"], line["data"]["event"], line["data"]["message"])
            for line in lines if line["record"] == "journal"] == journal
    assert sum(line["record"] == "activity_execution" for line in lines) == executions
    assert s3.head_object(Bucket=bucket, Key=record.key)["ContentLength"] == record.size


def test_instances_within_retention_are_kept_and_faulted_ones_longer(tenant, publish, store):
    publish(WRITES)
    publish(FAULTS)
    recent = ended(tenant, "writes", days_ago=29)
    faulted_month = ended(tenant, "faults", days_ago=31)
    faulted_old = ended(tenant, "faults", days_ago=91)
    old = ended(tenant, "writes", days_ago=31)
    assert Incident.objects.filter(instance=faulted_old).exists()

    retention_apply(store=store)

    assert set(WorkflowInstance.objects.values_list("pk", flat=True)) == {
        recent.pk, faulted_month.pk}
    assert set(InstanceArchive.objects.values_list("instance_id", flat=True)) == {
        old.pk, faulted_old.pk}
    assert not Incident.objects.filter(instance_id=faulted_old.pk).exists()


def test_tenant_and_definition_override_the_default(tenant, publish, store, settings):
    tenant.retention_finished_days = 5
    tenant.save()
    publish(WRITES)
    publish({**WRITES, "definition_id": "keeps", "name": "keeps",
             "options": {"retention": {"finished_days": 400}}})
    by_tenant = ended(tenant, "writes", days_ago=6)
    by_definition = ended(tenant, "keeps", days_ago=365)

    retention_apply(store=store)

    assert not WorkflowInstance.objects.filter(pk=by_tenant.pk).exists()
    assert WorkflowInstance.objects.filter(pk=by_definition.pk).exists()


def test_a_failed_upload_deletes_nothing(tenant, publish, store, settings):
    publish(WRITES)
    instance = ended(tenant, "writes", days_ago=31)
    settings.WEFT_ARCHIVE_BUCKET = "no-such-bucket-here"

    report = retention_apply(store=archive_store_from_settings())

    assert (report.failed, report.deleted) == (1, 0)
    assert WorkflowInstance.objects.filter(pk=instance.pk).exists()
    assert JournalEntry.objects.filter(instance=instance).exists()
    assert not InstanceArchive.objects.exists()


def test_an_archive_is_never_overwritten(tenant, publish, store, s3, bucket):
    publish(WRITES)
    instance = ended(tenant, "writes", days_ago=31)
    day = instance.finished_at
    taken = f"archive/acme/writes/{day:%Y}/{day:%m}/{day:%d}/{instance.pk}.jsonl.gz"
    s3.put_object(Bucket=bucket, Key=taken, Body=b"someone else's bytes")

    retention_apply(store=store)

    assert s3.get_object(Bucket=bucket, Key=taken)["Body"].read() == b"someone else's bytes"
    record = InstanceArchive.objects.get(instance_id=instance.pk)
    assert record.key != taken and record.key.startswith(taken.removesuffix(".jsonl.gz"))
    assert read_lines(s3, bucket, record.key)[0]["data"]["id"] == str(instance.pk)


def test_a_tick_does_a_bounded_amount_of_work_in_batches(tenant, publish, store):
    publish(WRITES)
    for _ in range(7):
        ended(tenant, "writes", days_ago=40)

    first = retention_apply(store=store, batch_size=2, limit=5)
    assert first.deleted == 5
    assert WorkflowInstance.objects.count() == 2
    second = retention_apply(store=store, batch_size=2, limit=5)
    assert second.deleted == 2
    assert not WorkflowInstance.objects.exists()
    assert InstanceArchive.objects.count() == 7


def test_without_a_bucket_expired_instances_are_deleted_without_archive(tenant, publish,
                                                                        settings):
    settings.WEFT_ARCHIVE_BUCKET = ""
    publish(WRITES)
    instance = ended(tenant, "writes", days_ago=31)
    report = retention_apply(store=archive_store_from_settings())
    assert (report.deleted, report.archived) == (1, 0)
    assert not WorkflowInstance.objects.filter(pk=instance.pk).exists()
    assert not InstanceArchive.objects.exists()


def test_done_steps_and_expired_retained_events_have_their_own_retention(tenant, publish,
                                                                          store, settings):
    settings.WEFT_RETENTION_STEP_DAYS = 2
    publish(WRITES)
    kept = ended(tenant, "writes", days_ago=1)
    Step.objects.create(tenant=tenant, instance=kept, kind="run", status="done",
                        run_after=timezone.now(), finished_at=timezone.now() - timedelta(days=3))
    fresh = Step.objects.create(tenant=tenant, instance=kept, kind="run", status="done",
                                run_after=timezone.now(), finished_at=timezone.now())
    RetainedEvent.objects.create(tenant=tenant, name="late",
                                 expires_at=timezone.now() - timedelta(seconds=1))
    waiting = RetainedEvent.objects.create(tenant=tenant, name="soon",
                                           expires_at=timezone.now() + timedelta(hours=1))
    other = TenantFactory(slug="globex")
    RetainedEvent.objects.create(tenant=other, name="late",
                                 expires_at=timezone.now() - timedelta(days=1))

    report = retention_apply(store=store)

    assert report.steps_deleted >= 1 and report.events_deleted == 2
    assert WorkflowInstance.objects.filter(pk=kept.pk).exists()
    assert Step.objects.filter(pk=fresh.pk).exists()
    assert not Step.objects.filter(instance=kept, finished_at__lt=timezone.now()
                                   - timedelta(days=2)).exists()
    assert list(RetainedEvent.objects.values_list("pk", flat=True)) == [waiting.pk]


def test_an_ended_instance_without_an_end_time_counts_from_its_last_change(tenant, publish,
                                                                          store):
    publish(FAULTS)
    instance = ended(tenant, "faults", days_ago=0)
    WorkflowInstance.objects.filter(pk=instance.pk).update(
        finished_at=None, updated_at=timezone.now() - timedelta(days=91))
    assert retention_apply(store=store).deleted == 1
    assert InstanceArchive.objects.filter(instance_id=instance.pk).exists()
