"""Who the caller is: the tenants they belong to and their role in each."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.views.definitions import ERRORS
from workflows.selectors.memberships import membership_list


class MembershipSerializer(serializers.Serializer):
    tenant = serializers.CharField(source="tenant.slug")
    tenant_name = serializers.CharField(source="tenant.name")
    role = serializers.CharField()


class MeSerializer(serializers.Serializer):
    username = serializers.CharField()
    is_staff = serializers.BooleanField()
    tenants = MembershipSerializer(many=True)


class MeView(APIView):
    """Not tenant-scoped: it is how a client learns which `X-Weft-Tenant` values it may send."""

    permission_classes = [IsAuthenticated]

    @extend_schema(summary="The signed-in user, their tenants and role in each",
                   responses={200: MeSerializer, 401: ERRORS[401]})
    def get(self, request: Request) -> Response:
        user = request.user
        return Response(MeSerializer({
            "username": user.get_username(), "is_staff": user.is_staff,
            "tenants": membership_list(user=user),
        }).data)
