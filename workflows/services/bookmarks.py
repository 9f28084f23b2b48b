"""Waking bookmarks: claiming the ones an event waits on, a retained event meeting a new wait,
and an operator resuming one bookmark.

A waiting bookmark is claimed by deleting its row in the transaction that schedules the resume
(a RESUME step, run by a worker), so two identical stimuli never resume it twice. Publishing an
event and creating an event bookmark take the same advisory lock (tenant + event name), so an
event kept with `retain_seconds` and a wait that arrives moments later always meet, once.
"""

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from workflows.errors import NotFound
from workflows.locks import advisory_xact_lock
from workflows.models import Bookmark, RetainedEvent, Step, StepKind, Tenant, WorkflowInstance
from workflows.plans import plan_for_instance
from workflows.services.instances import instance_lock
from workflows.services.operator_journal import journal_operator_action
from workflows.services.outbox import new_step, queue_of, steps_publish_on_commit
from workflows.services.records import bookmark_hash


def lock_event_name(tenant_id: int, name: str) -> None:
    advisory_xact_lock(f"weft:event:{tenant_id}:{name}")


def resume_step(instance: WorkflowInstance, bookmark_key: str, payload) -> Step:
    """An unsaved RESUME step: a claimed bookmark's stimulus, run by a worker."""
    return new_step(instance, StepKind.RESUME, queue=queue_of(plan_for_instance(instance)),
                    payload={"bookmark_key": bookmark_key, "payload": payload})


def bookmarks_claim_for_event(*, tenant: Tenant, name: str, payload=None,
                              correlation_id: str | None = None) -> tuple[list[str], list[Step]]:
    """Claims every event bookmark waiting for `name` (with this correlation id, or none when
    the event has none) and returns (instance ids, unsaved RESUME steps). In a transaction."""
    lock_event_name(tenant.pk, name)
    # Found by the stimulus's hashes on (tenant, hash): the waits for this correlation id and
    # the waits for none, never every wait for the name. The exact conditions stay, so a hash
    # shared by several bookmarks (or another kind's) takes exactly the ones that match.
    hashes = {bookmark_hash(name, None)}
    waiting = Bookmark.objects.filter(tenant=tenant, name=name, data__kind="event")
    if correlation_id:
        hashes.add(bookmark_hash(name, correlation_id))
        waiting = waiting.filter(Q(correlation_id=correlation_id) | Q(correlation_id__isnull=True))
    else:
        waiting = waiting.filter(correlation_id__isnull=True)
    waiting = waiting.filter(hash__in=sorted(hashes))
    claimed = list(
        waiting.select_for_update(skip_locked=True, of=("self",)).select_related("instance")
        .only("id", "key", "instance__id", "instance__tenant_id",
              "instance__definition_version_id")
    )
    if not claimed:
        return [], []
    Bookmark.objects.filter(pk__in=[b.pk for b in claimed]).delete()
    steps = [resume_step(b.instance, b.key, payload) for b in claimed]
    return [str(b.instance_id) for b in claimed], steps


def retained_event_claim(bookmark: Bookmark) -> Step | None:
    """A new event bookmark takes an event kept for it, if one is waiting (exactly once)."""
    lock_event_name(bookmark.tenant_id, bookmark.name)
    events = RetainedEvent.objects.filter(tenant_id=bookmark.tenant_id, name=bookmark.name,
                                          expires_at__gt=timezone.now())
    events = events.filter(correlation_id=bookmark.correlation_id) \
        if bookmark.correlation_id else events
    event = events.select_for_update(skip_locked=True).order_by("created_at").first()
    if event is None:
        return None
    event.delete()
    Bookmark.objects.filter(pk=bookmark.pk).delete()
    return resume_step(bookmark.instance, bookmark.key, event.payload)


@transaction.atomic
def bookmark_resume(*, tenant: Tenant, bookmark_id, payload=None,
                    actor: str | None = None) -> WorkflowInstance:
    """Resume one bookmark (any kind) with a payload; the resume runs on the workers."""
    # The instance row first (as workers lock it), then the bookmark: one lock order.
    instance_id = Bookmark.objects.filter(tenant=tenant, id=bookmark_id).values_list(
        "instance_id", flat=True).first()
    if instance_id is None:
        raise NotFound(f"Bookmark {bookmark_id} not found (or already resumed).")
    instance = instance_lock(tenant, instance_id)
    bookmark = (
        Bookmark.objects.select_for_update(skip_locked=True).select_related("instance")
        .filter(tenant=tenant, id=bookmark_id).first()
    )
    if bookmark is None or not Bookmark.objects.filter(pk=bookmark.pk).delete()[0]:
        raise NotFound(f"Bookmark {bookmark_id} not found (or already resumed).")
    journal_operator_action(instance, action="bookmark resumed", actor=actor,
                            data={"bookmark": bookmark.name, "activity_id": bookmark.activity_id})
    instance.save(update_fields=["state", "updated_at"])
    step = resume_step(instance, bookmark.key, payload)
    step.save(force_insert=True)
    steps_publish_on_commit([step])
    return instance
