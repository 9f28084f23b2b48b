"""`GET /api/v1/`: where everything is, for a newcomer with curl."""

from django.conf import settings
from django.urls import reverse
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

# Collection endpoints by name; parametrised ones are listed as templates.
LINKS = {
    "token": "token-obtain",
    "token_refresh": "token-refresh",
    "definitions": "definition-list",
    "validate_definition": "definition-validate",
    "instances": "instance-list",
    "activity_types": "activity-types",
    "workers": "worker-list",
    "dead_letters": "dead-letter-list",
    "audit": "audit-list",
}
TEMPLATES = {
    "definition": "definitions/{definition_id}/",
    "execute": "definitions/{definition_id}/execute/",
    "dispatch": "definitions/{definition_id}/dispatch/",
    "instance": "instances/{id}/",
    "publish_event": "events/{name}/",
    "resume_bookmark": "bookmarks/{id}/resume/",
}


class ApiIndexView(APIView):
    permission_classes = [AllowAny]
    authentication_classes = []

    @extend_schema(
        summary="Index of the API",
        description="Links to every collection, URL templates of the per-object endpoints, "
        "the API version and where the documentation is. Needs no token.",
        responses={200: inline_serializer("ApiIndex", {
            "name": serializers.CharField(), "version": serializers.CharField(),
            "authentication": serializers.CharField(),
            "links": serializers.DictField(child=serializers.URLField()),
            "templates": serializers.DictField(child=serializers.CharField()),
            "documentation": serializers.DictField(child=serializers.URLField()),
        })},
    )
    def get(self, request: Request) -> Response:
        base = request.build_absolute_uri(reverse("api-index"))
        return Response({
            "name": settings.SPECTACULAR_SETTINGS["TITLE"],
            "version": settings.SPECTACULAR_SETTINGS["VERSION"],
            "authentication": "Authorization: Bearer <access> from POST "
                              f"{request.build_absolute_uri(reverse('token-obtain'))}; "
                              "X-Weft-Tenant: <slug> when you belong to several tenants",
            "links": {key: request.build_absolute_uri(reverse(name))
                      for key, name in LINKS.items()},
            "templates": {key: base + path for key, path in TEMPLATES.items()},
            "documentation": {
                "swagger_ui": request.build_absolute_uri(reverse("swagger-ui")),
                "redoc": request.build_absolute_uri(reverse("redoc")),
                "openapi": request.build_absolute_uri(reverse("schema")),
            },
        })
