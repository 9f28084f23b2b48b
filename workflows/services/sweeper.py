"""The outbox sweeper (beat, every second): publishes due steps nobody published (the broker
was down, delayed retries) and takes back steps whose worker died (lease expired)."""

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from workflows.models import Step, StepStatus
from workflows.services.outbox import steps_publish
from workflows.services.poison import step_mark_dead


def steps_sweep(*, limit: int = 500) -> dict:
    """Publish due steps nobody published (broker down, delayed retries), and take back steps
    whose worker died (lease expired). Steps delivered too often without finishing are
    poison: they go dead and their instance faults with an incident."""
    now = timezone.now()
    stale = now - timedelta(seconds=settings.WEFT_STEP_REPUBLISH_AFTER)
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
                status=StepStatus.PENDING, published_at=None, lease_until=None)
        due = list(
            Step.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(status=StepStatus.PENDING, run_after__lte=now, instance__held=False)
            .filter(Q(published_at__isnull=True) | Q(published_at__lt=stale))
            .order_by("run_after").only("id", "queue", "publish_count")[:limit]
        )
        if due:
            Step.objects.filter(pk__in=[s.pk for s in due]).update(published_at=now)
    for step in poison:
        step_mark_dead(step_id=step.id, reason=f"delivered {step.deliveries} times without "
                                               "finishing (the worker died each time)")
    steps_publish([(s.id, s.queue, s.publish_count) for s in due])
    return {"published": len(due), "revived": len(revived), "dead": len(poison)}
