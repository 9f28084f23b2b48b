from rest_framework.pagination import LimitOffsetPagination


class WeftPagination(LimitOffsetPagination):
    """`results`, `next`, `previous`, `count`; `?limit=` up to 500."""

    default_limit = 50
    max_limit = 500
