"""`GET audit/`: the tenant's audit log, for its admins."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response

from api.pagination import cursor_paginated
from api.views.base import TenantAPIView
from api.views.definitions import ERRORS
from api.views.instances import _datetime_param
from workflows.models import AuditEntry, Role
from workflows.selectors.audit import audit_list


class AuditEntrySerializer(serializers.ModelSerializer):
    class Meta:
        model = AuditEntry
        fields = ["id", "at", "actor", "via", "action", "target_type", "target_id", "summary",
                  "details", "request_id", "client_address"]


class AuditPagination(CursorPagination):
    """The log only grows: keyset pages (newest first) stay fast and stable while it does."""

    ordering = "-id"
    page_size = 50
    page_size_query_param = "limit"
    max_page_size = 500


class AuditListView(TenantAPIView):
    required_role = Role.ADMIN

    @extend_schema(
        summary="The tenant's audit log, newest first",
        parameters=[
            OpenApiParameter("action", str, description="e.g. definition.publish; "
                             "ending in '.', a prefix (instance.)"),
            OpenApiParameter("actor", str, description="a username or token:<name>"),
            OpenApiParameter("target_type", str), OpenApiParameter("target_id", str),
            OpenApiParameter("since", str, description="ISO-8601, inclusive"),
            OpenApiParameter("until", str, description="ISO-8601, exclusive"),
            OpenApiParameter("limit", int, description="entries per page, up to 500"),
            OpenApiParameter("cursor", str, description="from `next` or `previous`"),
        ],
        responses={200: cursor_paginated(AuditEntrySerializer), **ERRORS},
    )
    def get(self, request: Request) -> Response:
        params = request.query_params
        queryset = audit_list(
            tenant=self.tenant, action=params.get("action"), actor=params.get("actor"),
            target_type=params.get("target_type"), target_id=params.get("target_id"),
            since=_datetime_param(request, "since"), until=_datetime_param(request, "until"),
        )
        paginator = AuditPagination()
        page = paginator.paginate_queryset(queryset, request, view=self)
        return paginator.get_paginated_response(AuditEntrySerializer(page, many=True).data)
