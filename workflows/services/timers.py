"""Durable timers: Delay, Timer, Cron and StartAt waits are bookmarks with a due time.

Beat calls `timers_fire_due` every second. It claims due bookmarks with `FOR UPDATE SKIP
LOCKED`, in batches, deletes them and schedules a RESUME step for each, all in one transaction:
however many beats or workers run it at once, a timer fires once. Timers outlive every process
because they are rows; cancelling an instance deletes its bookmarks, timers included.
"""

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from workflows.models import Bookmark, Step
from workflows.plans import plan_for_instance
from workflows.services.outbox import new_step, queue_of, steps_publish_on_commit


def timers_fire_due(*, batch_size: int | None = None, max_batches: int = 20) -> int:
    batch_size = batch_size or settings.WEFT_TIMER_BATCH_SIZE
    fired = 0
    for _ in range(max_batches):
        with transaction.atomic():
            now = timezone.now()
            due = list(
                Bookmark.objects.select_for_update(skip_locked=True, of=("self",))
                .filter(due_at__lte=now, instance__held=False)
                .select_related("instance")
                .only("id", "key", "due_at", "instance__id", "instance__tenant_id",
                      "instance__definition_version_id")
                .order_by("due_at")[:batch_size]
            )
            if not due:
                return fired
            Bookmark.objects.filter(pk__in=[b.pk for b in due]).delete()
            steps = [
                new_step(b.instance, "resume", queue=queue_of(plan_for_instance(b.instance)),
                         payload={"bookmark_key": b.key,
                                  "payload": {"fired_at": now.isoformat(),
                                              "due_at": b.due_at.isoformat()}})
                for b in due
            ]
            Step.objects.bulk_create(steps)
            steps_publish_on_commit(steps)
        fired += len(due)
        if len(due) < batch_size:
            return fired
    return fired
