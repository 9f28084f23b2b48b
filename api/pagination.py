from rest_framework.pagination import CursorPagination, LimitOffsetPagination

from workflows.errors import InvalidInput


class WeftPagination(LimitOffsetPagination):
    """`results`, `next`, `previous`, `count`; `?limit=` up to 500."""

    default_limit = 50
    max_limit = 500


def paginated_response(view, request, queryset, serializer_class):
    """One page of `queryset`, serialized, in the `results`/`next` envelope."""
    paginator = WeftPagination()
    page = paginator.paginate_queryset(queryset, request, view=view)
    return paginator.get_paginated_response(serializer_class(page, many=True).data)


class KeysetPagination(CursorPagination):
    """Keyset (cursor) pages for lists that grow without bound: `results`, `next`, `previous`
    and no `count` (counting millions of rows on every page is what this avoids). A page is
    one index range scan from the cursor's position (the first ordering field; rows that share
    it are told apart by the cursor's offset, DRF's scheme), however deep the page.
    `?limit=` up to 500, like every list; `?offset=` is refused (follow `next`)."""

    page_size = 50
    page_size_query_param = "limit"
    max_page_size = 500

    def __init__(self, ordering: tuple[str, ...]):
        self.ordering = ordering

    def paginate_queryset(self, queryset, request, view=None):
        if "offset" in request.query_params:
            raise InvalidInput(
                "This list pages by cursor: follow `next` (or `previous`), not `offset`.",
                errors=[{"path": "offset", "message": "Not accepted here; use `cursor`."}])
        return super().paginate_queryset(queryset, request, view)


def keyset_response(view, request, queryset, serializer_class, *, ordering: tuple[str, ...]):
    """One keyset page of `queryset` in `ordering`, serialized: `results`, `next`,
    `previous`."""
    paginator = KeysetPagination(ordering)
    page = paginator.paginate_queryset(queryset, request, view=view)
    return paginator.get_paginated_response(serializer_class(page, many=True).data)


def keyset_parameters() -> list:
    """The OpenAPI query parameters of a keyset list."""
    from drf_spectacular.utils import OpenApiParameter

    return [OpenApiParameter("limit", int, description="rows per page, up to 500 (50)"),
            OpenApiParameter("cursor", str, description="from `next` or `previous`")]


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
