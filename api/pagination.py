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


_PAGE_SCHEMAS: dict = {}


def paginated(serializer_class):
    """The OpenAPI shape of one page of `serializer_class` (what `paginated_response` sends),
    for `extend_schema(responses={200: paginated(...)})`."""
    from drf_spectacular.utils import inline_serializer
    from rest_framework import serializers

    name = f"Paginated{serializer_class.__name__.removesuffix('Serializer')}List"
    if name not in _PAGE_SCHEMAS:
        _PAGE_SCHEMAS[name] = inline_serializer(name=name, fields={
            "count": serializers.IntegerField(),
            "next": serializers.URLField(allow_null=True),
            "previous": serializers.URLField(allow_null=True),
            "results": serializer_class(many=True),
        })
    return _PAGE_SCHEMAS[name]


def cursor_paginated(serializer_class):
    """The OpenAPI shape of one cursor page (`next`, `previous`, `results`; no count, which a
    table that grows for years cannot afford)."""
    from drf_spectacular.utils import inline_serializer
    from rest_framework import serializers

    name = f"Cursor{serializer_class.__name__.removesuffix('Serializer')}List"
    if name not in _PAGE_SCHEMAS:
        _PAGE_SCHEMAS[name] = inline_serializer(name=name, fields={
            "next": serializers.URLField(allow_null=True),
            "previous": serializers.URLField(allow_null=True),
            "results": serializer_class(many=True),
        })
    return _PAGE_SCHEMAS[name]
