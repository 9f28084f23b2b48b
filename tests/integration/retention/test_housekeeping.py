import threading
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from tests.integration.retention.conftest import WRITES, ended
from workflows.models import (
    InstanceArchive,
    TriggerFire,
    WorkflowDefinition,
    WorkflowInstance,
    WorkflowTrigger,
)
from workflows.services.retention import retention_apply
from workflows.tasks import apply_retention


@pytest.mark.django_db
def test_trigger_fires_have_their_own_retention_and_go_with_their_instance(tenant, publish,
                                                                          store, settings):
    settings.WEFT_RETENTION_FIRE_DAYS = 10
    publish(WRITES)
    trigger = WorkflowTrigger.objects.create(
        tenant=tenant, definition_version=WorkflowDefinition.objects.get(definition_id="writes"),
        definition_id="writes", activity_id="tick", type="timer")
    kept = ended(tenant, "writes", days_ago=1)
    expired = ended(tenant, "writes", days_ago=31)
    now = timezone.now()
    old_fire = TriggerFire.objects.create(trigger=trigger, scheduled_for=now, instance=kept)
    TriggerFire.objects.filter(pk=old_fire.pk).update(fired_at=now - timedelta(days=11))
    recent_fire = TriggerFire.objects.create(trigger=trigger, scheduled_for=now
                                             - timedelta(seconds=1), instance=kept)
    fire_of_expired = TriggerFire.objects.create(trigger=trigger, instance=expired,
                                                 scheduled_for=now - timedelta(seconds=2))

    report = retention_apply(store=store)

    assert report.fires_deleted == 1
    assert list(TriggerFire.objects.values_list("pk", flat=True)) == [recent_fire.pk]
    assert not TriggerFire.objects.filter(pk=fire_of_expired.pk).exists()


@pytest.mark.django_db
def test_the_beat_task_uses_the_configured_archive(tenant, publish, bucket):
    publish(WRITES)
    instance = ended(tenant, "writes", days_ago=31)
    assert apply_retention.apply().get()["archived"] == 1
    assert InstanceArchive.objects.get(instance_id=instance.pk).bucket == bucket


def test_the_beat_schedule_runs_retention(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["weft-apply-retention"]
    assert entry["task"] == apply_retention.name == "weft.apply_retention"


@pytest.mark.django_db(transaction=True)
def test_an_instance_locked_by_someone_else_is_left_for_a_later_tick(tenant, publish, store):
    publish(WRITES)
    busy = ended(tenant, "writes", days_ago=31)
    idle = ended(tenant, "writes", days_ago=31)
    locked, release = threading.Event(), threading.Event()

    def hold_row():
        try:
            with transaction.atomic():
                WorkflowInstance.objects.select_for_update().get(pk=busy.pk)
                locked.set()
                release.wait(30)
        finally:
            connection.close()

    holder = threading.Thread(target=hold_row)
    holder.start()
    try:
        assert locked.wait(10)
        report = retention_apply(store=store)
    finally:
        release.set()
        holder.join()

    assert report.deleted == 1
    assert list(WorkflowInstance.objects.values_list("pk", flat=True)) == [busy.pk]
    assert not WorkflowInstance.objects.filter(pk=idle.pk).exists()
    assert retention_apply(store=store).deleted == 1
    assert not WorkflowInstance.objects.exists()
