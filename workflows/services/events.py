"""Stimuli from outside: events by name and correlation id, and direct bookmark resumes.

A waiting bookmark is claimed by deleting its row in the transaction that schedules the
resume (a RESUME step, run by a worker), so two identical stimuli never resume it twice.
"""

from django.db import transaction
from django.db.models import Q

from workflows.errors import NotFound
from workflows.models import Bookmark, Step, StepKind, Tenant, WorkflowInstance
from workflows.plans import plan_for_instance


def _resume_step(instance: WorkflowInstance, bookmark_key: str, payload) -> Step:
    from workflows.services.driver import new_step, queue_of

    return new_step(instance, StepKind.RESUME, queue=queue_of(plan_for_instance(instance)),
                    payload={"bookmark_key": bookmark_key, "payload": payload})


def bookmarks_claim_for_event(*, tenant: Tenant, name: str, payload=None,
                              correlation_id: str | None = None) -> tuple[list[str], list[Step]]:
    """Claims every event bookmark waiting for `name` (and this correlation id, or none) and
    returns (instance ids, unsaved RESUME steps). Call inside a transaction."""
    waiting = Bookmark.objects.filter(tenant=tenant, name=name, data__kind="event")
    if correlation_id:
        waiting = waiting.filter(Q(correlation_id=correlation_id) | Q(correlation_id__isnull=True))
    else:
        waiting = waiting.filter(correlation_id__isnull=True)
    claimed = list(
        waiting.select_for_update(skip_locked=True).select_related("instance")
        .only("id", "key", "instance__id", "instance__tenant_id",
              "instance__definition_version_id")
    )
    if not claimed:
        return [], []
    Bookmark.objects.filter(pk__in=[b.pk for b in claimed]).delete()
    steps = [_resume_step(b.instance, b.key, payload) for b in claimed]
    return [str(b.instance_id) for b in claimed], steps


@transaction.atomic
def event_publish(*, tenant: Tenant, name: str, payload=None,
                  correlation_id: str | None = None) -> dict:
    """Resume every instance waiting for this event; the resumes run on the workers."""
    from workflows.services.steps import steps_publish_on_commit

    resumed, steps = bookmarks_claim_for_event(tenant=tenant, name=name, payload=payload,
                                               correlation_id=correlation_id)
    Step.objects.bulk_create(steps)
    steps_publish_on_commit(steps)
    return {"resumed": resumed, "started": []}


@transaction.atomic
def bookmark_resume(*, tenant: Tenant, bookmark_id, payload=None) -> WorkflowInstance:
    """Resume one bookmark (any kind) with a payload; the resume runs on the workers."""
    from workflows.services.steps import steps_publish_on_commit

    bookmark = (
        Bookmark.objects.select_for_update(skip_locked=True).select_related("instance")
        .filter(tenant=tenant, id=bookmark_id).first()
    )
    if bookmark is None or not Bookmark.objects.filter(pk=bookmark.pk).delete()[0]:
        raise NotFound(f"Bookmark {bookmark_id} not found (or already resumed).")
    step = _resume_step(bookmark.instance, bookmark.key, payload)
    step.save(force_insert=True)
    steps_publish_on_commit([step])
    return bookmark.instance
