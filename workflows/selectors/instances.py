"""Instance reads, tenant-scoped, with what list endpoints need prefetched."""

from datetime import datetime

from django.db.models import Prefetch, QuerySet

from workflows.errors import InvalidInput, NotFound
from workflows.models import (
    ActivityExecution,
    Bookmark,
    Incident,
    InstanceStatus,
    JournalEntry,
    Tenant,
    WorkflowInstance,
)

INSTANCE_UNSHOWN = ("state", "http_response", "trace_context")


def instance_list(
    *, tenant: Tenant, definition_id: str | None = None, status: str | None = None,
    correlation_id: str | None = None, created_after: datetime | None = None,
    created_before: datetime | None = None, version: int | None = None, parent_id=None,
) -> QuerySet[WorkflowInstance]:
    # The engine state (the largest column), the HTTP answer and the trace context are never
    # shown by a list or the instance page: not read.
    queryset = WorkflowInstance.objects.filter(tenant=tenant).defer(
        *INSTANCE_UNSHOWN).prefetch_related(
        Prefetch("incidents", queryset=Incident.objects.order_by("created_at", "id"))
    )
    if version is not None:
        queryset = queryset.filter(version=version)
    if parent_id is not None:
        queryset = queryset.filter(parent_id=parent_id)
    if status:
        if status not in InstanceStatus.values:
            raise InvalidInput(
                f"Unknown status '{status}'.",
                errors=[{"path": "status",
                         "message": f"One of {', '.join(InstanceStatus.values)}."}],
            )
        queryset = queryset.filter(status=status)
    if definition_id:
        queryset = queryset.filter(definition_id=definition_id)
    if correlation_id:
        queryset = queryset.filter(correlation_id=correlation_id)
    if created_after:
        queryset = queryset.filter(created_at__gte=created_after)
    if created_before:
        queryset = queryset.filter(created_at__lt=created_before)
    return queryset.order_by("-created_at", "id")


def instance_get(*, tenant: Tenant, instance_id) -> WorkflowInstance:
    found = instance_list(tenant=tenant).filter(id=instance_id).first()
    if found is None:
        raise NotFound(f"Instance {instance_id} not found.")
    return found


def _instance_must_exist(*, tenant: Tenant, instance_id) -> None:
    """404 unless the tenant has this instance (one primary-key probe, nothing loaded)."""
    if not WorkflowInstance.objects.filter(tenant=tenant, id=instance_id).exists():
        raise NotFound(f"Instance {instance_id} not found.")


def instance_journal(*, tenant: Tenant, instance_id) -> QuerySet[JournalEntry]:
    _instance_must_exist(tenant=tenant, instance_id=instance_id)
    return JournalEntry.objects.filter(instance_id=instance_id).order_by("sequence")


def instance_activity_executions(*, tenant: Tenant, instance_id) -> QuerySet[ActivityExecution]:
    _instance_must_exist(tenant=tenant, instance_id=instance_id)
    return ActivityExecution.objects.filter(instance_id=instance_id).order_by("id")


def instance_bookmarks(*, tenant: Tenant, instance_id) -> QuerySet[Bookmark]:
    _instance_must_exist(tenant=tenant, instance_id=instance_id)
    return Bookmark.objects.filter(instance_id=instance_id).order_by("created_at")
