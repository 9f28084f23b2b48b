"""How many instances are in each status: the Monitor's summary, and any dashboard's."""

from datetime import datetime

from django.db.models import Count

from workflows.models import InstanceStatus, Tenant
from workflows.selectors.instances import instance_list


def instance_counts_by_status(
    *, tenant: Tenant, definition_id: str | None = None, correlation_id: str | None = None,
    created_after: datetime | None = None, created_before: datetime | None = None,
    version: int | None = None,
) -> dict[str, int]:
    """Every status with its count (zeros included), under the same filters as the list.

    One grouped query on the (tenant, status, ...) indexes; the status filter is left out on
    purpose: the counts are what a status filter would choose between.
    """
    rows = (
        instance_list(tenant=tenant, definition_id=definition_id, correlation_id=correlation_id,
                      created_after=created_after, created_before=created_before,
                      version=version)
        .prefetch_related(None).order_by().values("status").annotate(total=Count("id"))
    )
    counts = dict.fromkeys(InstanceStatus.values, 0)
    for row in rows:
        counts[row["status"]] = row["total"]
    return counts
