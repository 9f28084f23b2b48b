"""Events from outside (`POST events/`): resume every instance waiting for the event (through
`bookmarks`), start every definition whose Event trigger listens for it, and keep an event that
nothing waited for when asked to (`retain_seconds`)."""

from datetime import timedelta

import structlog
from django.db import transaction
from django.utils import timezone

from workflows.errors import Conflict, InvalidInput
from workflows.models import RetainedEvent, Step, Tenant
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
    return result


def retained_events_purge(*, limit: int = 10_000) -> int:
    """Delete retained events that expired before any wait took them (beat, every minute); at
    most `limit` a pass, so that a backlog never holds a long delete."""
    expired = RetainedEvent.objects.filter(expires_at__lte=timezone.now()).order_by()
    ids = list(expired.values_list("pk", flat=True)[:limit])
    return RetainedEvent.objects.filter(pk__in=ids).delete()[0] if ids else 0
