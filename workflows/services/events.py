"""Stimuli from outside: events by name and correlation id, and direct bookmark resumes.

A waiting bookmark is claimed by deleting its row in the transaction that schedules the resume
(a RESUME step, run by a worker), so two identical stimuli never resume it twice. Publishing an
event and creating an event bookmark take the same advisory lock (tenant + event name), so an
event kept with `retain_seconds` and a wait that arrives moments later always meet, once.
"""

from datetime import timedelta

import structlog
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from workflows.errors import Conflict, InvalidInput, NotFound
from workflows.locks import advisory_xact_lock
from workflows.models import Bookmark, RetainedEvent, Step, StepKind, Tenant, WorkflowInstance
from workflows.plans import plan_for_instance

logger = structlog.get_logger(__name__)


def lock_event_name(tenant_id: int, name: str) -> None:
    advisory_xact_lock(f"weft:event:{tenant_id}:{name}")


def _resume_step(instance: WorkflowInstance, bookmark_key: str, payload) -> Step:
    from workflows.services.driver import new_step, queue_of

    return new_step(instance, StepKind.RESUME, queue=queue_of(plan_for_instance(instance)),
                    payload={"bookmark_key": bookmark_key, "payload": payload})


def bookmarks_claim_for_event(*, tenant: Tenant, name: str, payload=None,
                              correlation_id: str | None = None) -> tuple[list[str], list[Step]]:
    """Claims every event bookmark waiting for `name` (with this correlation id, or none when
    the event has none) and returns (instance ids, unsaved RESUME steps). In a transaction."""
    lock_event_name(tenant.pk, name)
    waiting = Bookmark.objects.filter(tenant=tenant, name=name, data__kind="event")
    if correlation_id:
        waiting = waiting.filter(Q(correlation_id=correlation_id) | Q(correlation_id__isnull=True))
    else:
        waiting = waiting.filter(correlation_id__isnull=True)
    claimed = list(
        waiting.select_for_update(skip_locked=True, of=("self",)).select_related("instance")
        .only("id", "key", "instance__id", "instance__tenant_id",
              "instance__definition_version_id")
    )
    if not claimed:
        return [], []
    Bookmark.objects.filter(pk__in=[b.pk for b in claimed]).delete()
    steps = [_resume_step(b.instance, b.key, payload) for b in claimed]
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
    return _resume_step(bookmark.instance, bookmark.key, event.payload)


def _start_triggered(*, tenant: Tenant, name: str, payload, correlation_id: str | None):
    """Start every published definition whose Event trigger listens for `name`."""
    from workflows.services.steps import instance_dispatch
    from workflows.services.triggers import triggers_for_event

    started, refused = [], []
    for trigger in triggers_for_event(tenant=tenant, name=name):
        try:
            with transaction.atomic():
                instance = instance_dispatch(
                    tenant=tenant, definition_id=trigger.definition_id,
                    input=payload if isinstance(payload, dict) else {},
                    correlation_id=correlation_id,
                    trigger={"activity_id": trigger.activity_id, "payload": payload})
        except (Conflict, InvalidInput) as exc:
            refused.append({"definition_id": trigger.definition_id, "code": exc.code,
                            "message": exc.message})
            continue
        started.append(str(instance.id))
    return started, refused


@transaction.atomic
def event_publish(*, tenant: Tenant, name: str, payload=None, correlation_id: str | None = None,
                  retain_seconds: int = 0) -> dict:
    """Resume every instance waiting for this event and start event-triggered workflows; the
    work runs on the workers. With `retain_seconds`, an event nothing waited for is kept that
    long for the first matching wait."""
    from workflows.services.steps import steps_publish_on_commit

    resumed, steps = bookmarks_claim_for_event(tenant=tenant, name=name, payload=payload,
                                               correlation_id=correlation_id)
    Step.objects.bulk_create(steps)
    steps_publish_on_commit(steps)
    started, refused = _start_triggered(tenant=tenant, name=name, payload=payload,
                                        correlation_id=correlation_id)
    retained = False
    if retain_seconds and not resumed:
        RetainedEvent.objects.create(
            tenant=tenant, name=name, correlation_id=correlation_id, payload=payload,
            expires_at=timezone.now() + timedelta(seconds=retain_seconds))
        retained = True
    result = {"resumed": resumed, "started": started, "retained": retained}
    if refused:
        result["refused"] = refused
    if not resumed and not started:
        result["reason"] = event_unmatched_reason(
            tenant=tenant, name=name, correlation_id=correlation_id,
            retain_seconds=retain_seconds if retained else 0, refused=bool(refused))
    return result


def event_unmatched_reason(*, tenant: Tenant, name: str, correlation_id: str | None,
                           retain_seconds: int, refused: bool) -> dict:
    """Why an event resumed and started nothing, from this tenant's waits only (counts, never
    other instances' ids or correlation ids)."""
    from workflows.services.triggers import triggers_for_event

    others = Bookmark.objects.filter(tenant=tenant, name=name, data__kind="event").count()
    has_trigger = bool(refused) or triggers_for_event(tenant=tenant, name=name).exists()
    if others:
        code = "other_correlation_ids"
        mine = f"'{correlation_id}'" if correlation_id else "none"
        message = (f"{others} wait(s) for the event '{name}' expect another correlation id; "
                   f"this event's correlation id ({mine}) matches none of them.")
    else:
        code = "no_waiter"
        message = f"Nothing waits for the event '{name}'"
        message += (" and every definition it starts refused (see refused)." if refused
                    else "." if has_trigger
                    else " and no published definition starts on it.")
    if retain_seconds:
        message += f" It is kept for {retain_seconds} s for the first matching wait."
    else:
        message += " It was not kept (send retain_seconds to keep it for a wait to come)."
    return {"code": code, "message": message, "waiting_with_other_correlation_ids": others,
            "retained_seconds": retain_seconds}


@transaction.atomic
def bookmark_resume(*, tenant: Tenant, bookmark_id, payload=None,
                    actor: str | None = None) -> WorkflowInstance:
    """Resume one bookmark (any kind) with a payload; the resume runs on the workers."""
    from workflows.services.instances import instance_lock
    from workflows.services.operator_journal import journal_operator_action
    from workflows.services.steps import steps_publish_on_commit

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
    step = _resume_step(instance, bookmark.key, payload)
    step.save(force_insert=True)
    steps_publish_on_commit([step])
    return instance


def retained_events_purge() -> int:
    return RetainedEvent.objects.filter(expires_at__lte=timezone.now()).delete()[0]
