"""Durable timers: Delay, Timer, Cron and StartAt waits are bookmarks with a due time.

The beat leader calls `timers_fire_due` itself on every tick (`workflows.scheduler`), and
sleeps until the next due time (`timers_next_due`, read from the due-time index) or a second at
most. It claims due bookmarks with `FOR UPDATE SKIP LOCKED`, in batches, deletes them and
schedules a RESUME step for each, all in one transaction: however many beats or workers run it
at once, a timer fires once. Timers outlive every process because they are rows; cancelling an
instance deletes its bookmarks, timers included. The resumes of a batch go out many steps to a
message, and a worker resumes a message's instances together (`services.resumes`).
"""

import math

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from workflows.models import Bookmark, Step
from workflows.plans import plan_for_instance
from workflows.services.outbox import new_step, queue_of, steps_publish_on_commit


def timers_next_due(*, after):
    """The earliest due time later than `after` (a timer not yet due), or None. One read of
    the due-time index (`bookmark_due`)."""
    return (Bookmark.objects.filter(due_at__gt=after).order_by("due_at")
            .values_list("due_at", flat=True).first())


def resumes_per_message(count: int) -> int:
    """Steps per message for `count` resumes fired together: spread over at least
    `WEFT_STEPS_SINGLE_MESSAGES` messages (idle workers take them in parallel), at most
    `WEFT_RESUMES_PER_MESSAGE` to a message (fewer messages: fewer SQS requests to send and to
    receive, and a worker resumes a message's instances in one transaction)."""
    spread = math.ceil(count / max(1, settings.WEFT_STEPS_SINGLE_MESSAGES))
    return max(1, min(settings.WEFT_RESUMES_PER_MESSAGE, spread))


# Batches one call claims at most (a call that fired this many is called again at once).
MAX_BATCHES = 20


def timers_fire_due(*, batch_size: int | None = None, max_batches: int = MAX_BATCHES) -> int:
    """Claim every due timer (up to `max_batches` transactions of `batch_size`), then publish
    all their resumes at once, several to a message (`resumes_per_message`): the claims do not
    wait for the broker between batches. A process that dies before publishing leaves the
    resumes to the sweeper (`WEFT_STEP_REPUBLISH_AFTER`)."""
    batch_size = batch_size or settings.WEFT_TIMER_BATCH_SIZE
    fired: list[Step] = []
    try:
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
                    break
                Bookmark.objects.filter(pk__in=[b.pk for b in due]).delete()
                steps = [
                    new_step(b.instance, "resume", queue=queue_of(plan_for_instance(b.instance)),
                             payload={"bookmark_key": b.key,
                                      "payload": {"fired_at": now.isoformat(),
                                                  "due_at": b.due_at.isoformat()}})
                    for b in due
                ]
                Step.objects.bulk_create(steps)
            fired += steps
            if len(due) < batch_size:
                break
    finally:
        # Outside the batches' transactions: at once, or when the caller's transaction
        # commits. Batches already committed are published even if a later one failed.
        steps_publish_on_commit(fired, per_message=resumes_per_message(len(fired)))
    return len(fired)
