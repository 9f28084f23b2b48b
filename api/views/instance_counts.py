from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from api.views.base import TenantAPIView
from api.views.definitions import ERRORS
from api.views.instances import _datetime_param, _int_param
from workflows.models import InstanceStatus
from workflows.selectors.instance_counts import instance_counts_by_status

CountsSerializer = inline_serializer(
    "InstanceCounts",
    {"counts": inline_serializer("CountsByStatus", {
        status: serializers.IntegerField() for status in InstanceStatus.values}),
     "total": serializers.IntegerField(),
     "approximate": serializers.ListField(
         child=serializers.CharField(),
         help_text="The statuses whose count is an estimate (above 1,000; exact below).")},
)


class InstanceCountsView(TenantAPIView):
    @extend_schema(
        summary="How many instances are in each status (same filters as the list, but status)",
        description="Exact up to 1,000 per status; above that, PostgreSQL's estimate (the "
                    "status is then listed in `approximate`): no count reads more than 1,001 "
                    "rows of a status.",
        parameters=[
            OpenApiParameter("definition_id", str), OpenApiParameter("version", int),
            OpenApiParameter("correlation_id", str),
            OpenApiParameter("created_after", str, description="ISO-8601"),
            OpenApiParameter("created_before", str, description="ISO-8601"),
        ],
        responses={200: CountsSerializer, **ERRORS},
    )
    def get(self, request: Request) -> Response:
        params = request.query_params
        counts, approximate = instance_counts_by_status(
            tenant=self.tenant, definition_id=params.get("definition_id"),
            correlation_id=params.get("correlation_id"), version=_int_param(request, "version"),
            created_after=_datetime_param(request, "created_after"),
            created_before=_datetime_param(request, "created_before"),
        )
        return Response({"counts": counts, "total": sum(counts.values()),
                         "approximate": approximate})
