"""How many rows a query returns, without reading them all: exact up to a bound, PostgreSQL's
estimate beyond it."""

import json

from django.db import connections

EXACT_UP_TO = 1000


def estimated_rows(queryset) -> int:
    """The planner's estimate of how many rows `queryset` returns (EXPLAIN, not run)."""
    sql, params = queryset.order_by().query.get_compiler(queryset.db).as_sql()
    with connections[queryset.db].cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"])


def bounded_count(queryset, *, up_to: int = EXACT_UP_TO) -> tuple[int, bool]:
    """(count, exact): the exact count while it is at most `up_to` (a count over `LIMIT
    up_to + 1`: never more rows read), else the planner's estimate (at least `up_to + 1`)."""
    counted = queryset.order_by()[:up_to + 1].count()
    if counted <= up_to:
        return counted, True
    return max(estimated_rows(queryset), counted), False
