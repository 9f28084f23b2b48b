"""Tenant secrets: names and dates are readable by editors (who reference them in
definitions), values are write-only, and only admins write."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from api.pagination import paginated, paginated_response
from api.views.base import TenantAPIView
from api.views.definitions import ERRORS
from workflows.models import Role
from workflows.selectors.secrets import secret_get, secret_list
from workflows.services.secrets import secret_create, secret_delete, secret_set


class SecretSerializer(serializers.Serializer):
    name = serializers.CharField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class SecretCreateSerializer(serializers.Serializer):
    name = serializers.CharField(help_text="Referenced as secrets.NAME in definitions.")
    value = serializers.CharField(write_only=True, trim_whitespace=False,
                                  help_text="Write-only: never returned.")


class SecretValueSerializer(serializers.Serializer):
    value = serializers.CharField(write_only=True, trim_whitespace=False,
                                  help_text="Write-only: never returned.")


def _parsed(serializer_class, data) -> dict:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class SecretListView(TenantAPIView):
    read_role = Role.EDITOR
    write_role = Role.ADMIN

    @extend_schema(summary="Secret names of this tenant (never values)",
                   operation_id="v1_secrets_list",
                   responses={200: paginated(SecretSerializer), **ERRORS})
    def get(self, request: Request) -> Response:
        return paginated_response(self, request, secret_list(tenant=self.tenant),
                                  SecretSerializer)

    @extend_schema(summary="Create a secret", request=SecretCreateSerializer,
                   responses={201: SecretSerializer, **ERRORS})
    def post(self, request: Request) -> Response:
        data = _parsed(SecretCreateSerializer, request.data)
        # The audit names the secret, never its value.
        with self.audited("secret.create", "secret", data["name"]):
            secret = secret_create(tenant=self.tenant, name=data["name"], value=data["value"])
        return Response(SecretSerializer(secret).data, status=status.HTTP_201_CREATED)


class SecretDetailView(TenantAPIView):
    read_role = Role.EDITOR
    write_role = Role.ADMIN

    @extend_schema(summary="One secret's name and dates", responses={200: SecretSerializer,
                                                                    **ERRORS})
    def get(self, request: Request, name: str) -> Response:
        return Response(SecretSerializer(secret_get(tenant=self.tenant, name=name)).data)

    @extend_schema(summary="Create or replace a secret's value", request=SecretValueSerializer,
                   responses={200: SecretSerializer, 201: SecretSerializer, **ERRORS})
    def put(self, request: Request, name: str) -> Response:
        data = _parsed(SecretValueSerializer, request.data)
        with self.audited("secret.set", "secret", name) as note:
            secret, created = secret_set(tenant=self.tenant, name=name, value=data["value"])
            note.summary = "created" if created else "value replaced"
        return Response(SecretSerializer(secret).data,
                        status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)

    @extend_schema(summary="Delete a secret", responses={204: None, **ERRORS})
    def delete(self, request: Request, name: str) -> Response:
        with self.audited("secret.delete", "secret", name):
            secret_delete(tenant=self.tenant, name=name)
        return Response(status=status.HTTP_204_NO_CONTENT)
