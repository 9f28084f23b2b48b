"""How many instances are in each status: the Monitor's summary, and any dashboard's."""

from datetime import datetime

from django.db import connection

from workflows.models import InstanceStatus, Tenant
from workflows.selectors.estimates import EXACT_UP_TO, estimated_rows
from workflows.selectors.instances import instance_list


def instance_counts_by_status(
    *, tenant: Tenant, definition_id: str | None = None, correlation_id: str | None = None,
    created_after: datetime | None = None, created_before: datetime | None = None,
    version: int | None = None, up_to: int = EXACT_UP_TO,
) -> tuple[dict[str, int], list[str]]:
    """Every status with its count (zeros included), under the same filters as the list, and
    the statuses whose count is PostgreSQL's estimate.

    A status's count is exact while it is at most `up_to`: one query counts each status over
    `LIMIT up_to + 1` rows of its (tenant, status, ...) or (tenant, definition, status, ...)
    index, so a tenant with millions of instances costs no more than one with thousands.
    Beyond, the planner's estimate for that status (EXPLAIN: statistics, not rows). The status
    filter is left out on purpose: the counts are what a status filter would choose between.
    """
    base = instance_list(tenant=tenant, definition_id=definition_id,
                         correlation_id=correlation_id, created_after=created_after,
                         created_before=created_before, version=version)
    base = base.prefetch_related(None).order_by()
    parts, params = [], []
    for status in InstanceStatus.values:
        sql, sub_params = base.filter(status=status).values("pk")[:up_to + 1].query \
            .sql_with_params()
        # `sql` is Django's own compiled query; every value is in the params.
        parts.append(f"SELECT %s, COUNT(*) FROM ({sql}) AS bounded")  # noqa: S608
        params += [status, *sub_params]
    with connection.cursor() as cursor:
        cursor.execute(" UNION ALL ".join(parts), params)
        counts = dict(cursor.fetchall())
    approximate = [status for status in InstanceStatus.values if counts[status] > up_to]
    for status in approximate:
        counts[status] = max(estimated_rows(base.filter(status=status)), up_to + 1)
    return counts, approximate
