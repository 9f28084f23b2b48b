"""Definition reads, tenant-scoped. Published definitions are served through the cache."""

from dataclasses import asdict, dataclass
from typing import Any

from django.db.models import OuterRef, Q, QuerySet, Subquery

from workflows.definition_cache import MISSING, cached_published_get, cached_published_set
from workflows.errors import NotFound
from workflows.models import Tenant, WorkflowDefinition


@dataclass(frozen=True)
class PublishedDefinition:
    """What running a workflow needs of its published version; safe to cache."""

    pk: int
    definition_id: str
    version: int
    name: str
    body: dict[str, Any]


def definition_list(
    *, tenant: Tenant, search: str | None = None, published: bool | None = None
) -> QuerySet[WorkflowDefinition]:
    """Latest version of each definition, with the number of its published version."""
    published_version = WorkflowDefinition.objects.filter(
        tenant=tenant, definition_id=OuterRef("definition_id"), is_published=True
    ).values("version")[:1]
    queryset = (
        WorkflowDefinition.objects.filter(tenant=tenant, is_latest=True)
        .select_related("created_by")
        .annotate(published_version=Subquery(published_version))
        .order_by("definition_id")
    )
    if search:
        queryset = queryset.filter(
            Q(definition_id__icontains=search) | Q(name__icontains=search)
            | Q(description__icontains=search)
        )
    if published is True:
        queryset = queryset.filter(published_version__isnull=False)
    elif published is False:
        queryset = queryset.filter(published_version__isnull=True)
    return queryset


def definition_get_latest(*, tenant: Tenant, definition_id: str) -> WorkflowDefinition:
    found = definition_list(tenant=tenant).filter(definition_id=definition_id).first()
    if found is None:
        raise NotFound(f"Definition '{definition_id}' not found.")
    return found


def definition_versions(*, tenant: Tenant, definition_id: str) -> QuerySet[WorkflowDefinition]:
    # Every row says which version of the definition is published now (as the list does).
    published_version = WorkflowDefinition.objects.filter(
        tenant=tenant, definition_id=definition_id, is_published=True
    ).values("version")[:1]
    versions = (
        WorkflowDefinition.objects.filter(tenant=tenant, definition_id=definition_id)
        .select_related("created_by")
        .annotate(published_version=Subquery(published_version))
        .order_by("-version")
    )
    return versions


def definition_get_version(
    *, tenant: Tenant, definition_id: str, version: int
) -> WorkflowDefinition:
    found = definition_versions(tenant=tenant, definition_id=definition_id).filter(
        version=version
    ).first()
    if found is None:
        raise NotFound(f"Definition '{definition_id}' has no version {version}.")
    return found


def definition_get_published(*, tenant: Tenant, definition_id: str) -> PublishedDefinition:
    """The published version, from the cache when it has it (a miss is filled from the DB)."""
    cached = cached_published_get(tenant.pk, definition_id)
    if cached is MISSING:
        row = (
            WorkflowDefinition.objects.filter(
                tenant=tenant, definition_id=definition_id, is_published=True
            )
            .only("pk", "definition_id", "version", "name", "body")
            .first()
        )
        cached = (
            asdict(PublishedDefinition(pk=row.pk, definition_id=row.definition_id,
                                       version=row.version, name=row.name, body=row.body))
            if row is not None
            else None
        )
        cached_published_set(tenant.pk, definition_id, cached)
    if cached is None:
        raise NotFound(f"Definition '{definition_id}' has no published version.",
                       code="not_published")
    return PublishedDefinition(**cached)
