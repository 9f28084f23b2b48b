from rest_framework.pagination import LimitOffsetPagination


class WeftPagination(LimitOffsetPagination):
    """`results`, `next`, `previous`, `count`; `?limit=` up to 500."""

    default_limit = 50
    max_limit = 500


def paginated_response(view, request, queryset, serializer_class):
    """One page of `queryset`, serialized, in the `results`/`next` envelope."""
    paginator = WeftPagination()
    page = paginator.paginate_queryset(queryset, request, view=view)
    return paginator.get_paginated_response(serializer_class(page, many=True).data)
