"""Admin change lists over tables that grow for years (instances, journal, executions, steps,
incidents, dead letters, the audit log): no `COUNT(*)` over the table, no `SELECT DISTINCT`
over it for a filter's choices, no facet counts.

- `EstimatedCountPaginator`: the count is exact while small (a count bounded by `LIMIT`, at
  most `EXACT_UP_TO + 1` rows read), and PostgreSQL's estimate of the query's rows (`EXPLAIN`,
  which reads the planner's statistics, not the table) beyond that. The page shows "about"
  through `LargeTableAdmin.show_full_result_count = False` (no second, unfiltered count).
- `RecentValuesFilter`: a filter's choices are the values among the newest rows (a bounded
  read in an indexed order), plus the value chosen, instead of every distinct value ever
  stored.
"""

from django.contrib import admin
from django.contrib.admin.filters import AllValuesFieldListFilter
from django.core.paginator import Paginator
from django.utils.functional import cached_property

from workflows.selectors.estimates import bounded_count


class EstimatedCountPaginator(Paginator):
    @cached_property
    def count(self) -> int:
        return bounded_count(self.object_list)[0]


class RecentValuesFilter(AllValuesFieldListFilter):
    """Choices from the newest `SAMPLE` rows (in the admin's `recent_order`, an indexed
    order), not from a `SELECT DISTINCT` over the whole table."""

    SAMPLE = 500

    def __init__(self, field, request, params, model, model_admin, field_path):
        super().__init__(field, request, params, model, model_admin, field_path)
        order = getattr(model_admin, "recent_order", "-pk")
        recent = (model_admin.get_queryset(request).order_by(order)
                  .values_list(field.name, flat=True)[:self.SAMPLE])
        values = {value for value in recent if value is not None}
        values.update(value for value in (self.lookup_val or []) if value)
        self.lookup_choices = sorted(values, key=str)


class LargeTableAdmin(admin.ModelAdmin):
    """Mix in before `admin.ModelAdmin` for a table that grows without bound."""

    paginator = EstimatedCountPaginator
    # Rendering a row costs the admin about half a millisecond (links, escaping, the preserved
    # filters of each row's link): 50 rows, like a page of the API, keep a page well inside
    # 100 ms on a small machine; Django's 100 did not (bench/RESULTS.md, "Scale").
    list_per_page = 50
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    recent_order = "-pk"
