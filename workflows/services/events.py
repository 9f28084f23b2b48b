"""Events from outside (`POST events/`): resume every instance waiting for the event (through
`bookmarks`), start every definition whose Event trigger listens for it, and keep an event that
nothing waited for when asked to (`retain_seconds`)."""

from datetime import timedelta

import structlog
from django.db import transaction
from django.utils import timezone

from workflows.errors import Conflict, InvalidInput
from workflows.models import Bookmark, RetainedEvent, Step, Tenant
from workflows.services.bookmarks import bookmarks_claim_for_event
from workflows.services.instances import instance_dispatch
from workflows.services.outbox import steps_publish_on_commit
from workflows.services.triggers import triggers_for_event

logger = structlog.get_logger(__name__)


def _start_triggered(*, tenant: Tenant, name: str, payload, correlation_id: str | None):
    """Start every published definition whose Event trigger listens for `name`."""
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


def retained_events_purge(*, limit: int = 10_000) -> int:
    """Delete retained events that expired before any wait took them (beat, every minute); at
    most `limit` a pass, so that a backlog never holds a long delete."""
    expired = RetainedEvent.objects.filter(expires_at__lte=timezone.now()).order_by()
    ids = list(expired.values_list("pk", flat=True)[:limit])
    return RetainedEvent.objects.filter(pk__in=ids).delete()[0] if ids else 0
