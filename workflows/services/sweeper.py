"""The outbox sweeper (beat, every second): publishes due steps nobody published (the broker
was down, delayed retries) or whose sending was never confirmed (the publisher died between
commit and send), and takes back steps whose worker died (lease expired).

A step whose message the broker accepted is not published again while it waits in the queue,
however deep the queue: a re-publish would only deepen it. SQS keeps the message until a worker
takes it (or moves it to the dead-letter queue, which the dead-letter collector watches); only
after `WEFT_STEP_LOST_AFTER`, SQS's retention, may it have been dropped unread."""

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from workflows.models import Step, StepStatus
from workflows.services.outbox import steps_publish
from workflows.services.poison import step_mark_dead


def steps_sweep(*, limit: int = 500) -> dict:
    """Publish due steps nobody published (broker down, delayed retries), and take back steps
    whose worker died (lease expired). Steps delivered too often without finishing are
    poison: they go dead and their instance faults with an incident."""
    now = timezone.now()
    unconfirmed = now - timedelta(seconds=settings.WEFT_STEP_REPUBLISH_AFTER)
    lost = now - timedelta(seconds=settings.WEFT_STEP_LOST_AFTER)
    with transaction.atomic():
        stalled = list(
            Step.objects.select_for_update(skip_locked=True)
            .filter(status=StepStatus.RUNNING, lease_until__lt=now)
            .only("id", "deliveries", "instance_id", "queue")[:limit]
        )
        poison = [s for s in stalled if s.deliveries >= settings.WEFT_STEP_MAX_DELIVERIES]
        revived = [s for s in stalled if s.deliveries < settings.WEFT_STEP_MAX_DELIVERIES]
        if revived:
            Step.objects.filter(pk__in=[s.pk for s in revived]).update(
                status=StepStatus.PENDING, published_at=None, sent_at=None, lease_until=None)
        pending = (Step.objects.select_for_update(skip_locked=True, of=("self",))
                   .filter(status=StepStatus.PENDING, run_after__lte=now, instance__held=False)
                   .order_by("run_after").only("id", "queue", "publish_count"))
        due = list(pending.filter(sent_at__isnull=True).filter(
            Q(published_at__isnull=True) | Q(published_at__lt=unconfirmed))[:limit])
        if len(due) < limit:
            # A step is sent once due, so `run_after` bounds the scan to old steps.
            due += list(pending.filter(run_after__lt=lost, sent_at__lt=lost)[:limit - len(due)])
        if due:
            Step.objects.filter(pk__in=[s.pk for s in due]).update(
                published_at=now, sent_at=None, publish_count=F("publish_count") + 1)
            for step in due:
                step.publish_count += 1
    for step in poison:
        step_mark_dead(step_id=step.id, reason=f"delivered {step.deliveries} times without "
                                               "finishing (the worker died each time)")
    steps_publish([(s.id, s.queue, s.publish_count) for s in due])
    return {"published": len(due), "revived": len(revived), "dead": len(poison)}
