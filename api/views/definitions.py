"""Definition endpoints: thin — parse, call one service or selector, serialize."""

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from api.pagination import paginated, paginated_response
from api.serializers import (
    DefinitionDocumentSerializer,
    DefinitionSerializer,
    DefinitionSummarySerializer,
    ErrorSerializer,
    ValidationResultSerializer,
)
from api.views.base import TenantAPIView
from workflows.models import Role
from workflows.revisions import definition_revision
from workflows.selectors.definitions import (
    definition_get_latest,
    definition_get_version,
    definition_list,
    definition_versions,
)
from workflows.services.definitions import (
    definition_create,
    definition_delete,
    definition_problems,
    definition_publish,
    definition_retract,
    definition_save_draft,
)

ERRORS = {
    400: OpenApiResponse(ErrorSerializer, description="Invalid input (with JSON paths)"),
    401: OpenApiResponse(ErrorSerializer, description="Not authenticated"),
    403: OpenApiResponse(ErrorSerializer, description="Role too low"),
    404: OpenApiResponse(ErrorSerializer, description="Not found in this tenant"),
    409: OpenApiResponse(ErrorSerializer, description="Conflict"),
}


def _revision_from_if_match(header: str | None) -> str | None:
    """`If-Match: "<etag>"` (weak or strong); `*` or nothing means no precondition."""
    if not header or header.strip() == "*":
        return None
    return header.strip().removeprefix("W/").strip('"')


def _bool_param(value: str | None) -> bool | None:
    if value is None or value == "":
        return None
    return value.lower() in {"1", "true", "yes"}


class DefinitionListView(TenantAPIView):
    @extend_schema(
        summary="List definitions (latest version of each)", operation_id="v1_definitions_list",
        parameters=[
            OpenApiParameter("search", str, description="in id, name and description"),
            OpenApiParameter("published", bool, description="only (un)published ones"),
        ],
        responses={200: paginated(DefinitionSummarySerializer), **ERRORS},
    )
    def get(self, request: Request) -> Response:
        queryset = definition_list(
            tenant=self.tenant,
            search=request.query_params.get("search"),
            published=_bool_param(request.query_params.get("published")),
        )
        return paginated_response(self, request, queryset, DefinitionSummarySerializer)

    @extend_schema(
        summary="Create a definition (a draft, version 1)",
        request=DefinitionDocumentSerializer,
        responses={201: DefinitionSerializer, **ERRORS},
    )
    def post(self, request: Request) -> Response:
        with self.audited("definition.create", "definition") as note:
            created = definition_create(tenant=self.tenant, user=request.user, body=request.data)
            note.target_id = created.definition_id
            note.summary = f"created version {created.version}"
        return Response(self._latest(created.definition_id), status=status.HTTP_201_CREATED)


class DefinitionDetailView(TenantAPIView):
    @extend_schema(summary="The latest version of a definition",
                   responses={200: DefinitionSerializer, **ERRORS})
    def get(self, request: Request, definition_id: str) -> Response:
        found = definition_get_latest(tenant=self.tenant, definition_id=definition_id)
        return Response(DefinitionSerializer(found).data,
                        headers={"ETag": f'"{definition_revision(found)}"'})

    @extend_schema(
        summary="Save a draft (a new version when the latest is published)",
        description=(
            "Send the `ETag` of the version you read as `If-Match` to refuse the save with a "
            "409 `revision_conflict` when someone else saved meanwhile (its details carry the "
            "current revision and version). Without `If-Match` the save always applies."
        ),
        parameters=[OpenApiParameter("If-Match", str, OpenApiParameter.HEADER,
                                     description="ETag of the version the change is based on")],
        request=DefinitionDocumentSerializer,
        responses={200: DefinitionSerializer, **ERRORS},
    )
    def put(self, request: Request, definition_id: str) -> Response:
        with self.audited("definition.save", "definition", definition_id) as note:
            saved = definition_save_draft(
                tenant=self.tenant, user=request.user, definition_id=definition_id,
                body=request.data,
                expected_revision=_revision_from_if_match(request.headers.get("If-Match")),
            )
            note.summary = f"saved version {saved.version}"
        return Response(self._latest(definition_id),
                        headers={"ETag": f'"{definition_revision(saved)}"'})

    @extend_schema(summary="Delete every version of a definition",
                   responses={204: None, **ERRORS})
    def delete(self, request: Request, definition_id: str) -> Response:
        with self.audited("definition.delete", "definition", definition_id,
                          "deleted every version"):
            definition_delete(tenant=self.tenant, user=request.user,
                              definition_id=definition_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class DefinitionPublishView(TenantAPIView):
    required_role = Role.EDITOR

    @extend_schema(summary="Publish the latest version", request=None,
                   responses={200: DefinitionSerializer, **ERRORS})
    def post(self, request: Request, definition_id: str) -> Response:
        with self.audited("definition.publish", "definition", definition_id) as note:
            published = definition_publish(tenant=self.tenant, user=request.user,
                                           definition_id=definition_id)
            note.summary = f"published version {published.version}"
        return Response(self._latest(definition_id))


class DefinitionRetractView(TenantAPIView):
    required_role = Role.EDITOR

    @extend_schema(summary="Retract the published version", request=None,
                   responses={200: DefinitionSerializer, **ERRORS})
    def post(self, request: Request, definition_id: str) -> Response:
        with self.audited("definition.retract", "definition", definition_id,
                          "retracted the published version"):
            definition_retract(tenant=self.tenant, user=request.user,
                               definition_id=definition_id)
        return Response(self._latest(definition_id))


class DefinitionVersionListView(TenantAPIView):
    @extend_schema(summary="Version history, newest first",
                   operation_id="v1_definitions_versions_list",
                   responses={200: paginated(DefinitionSummarySerializer), **ERRORS})
    def get(self, request: Request, definition_id: str) -> Response:
        definition_get_latest(tenant=self.tenant, definition_id=definition_id)  # 404 when absent
        queryset = definition_versions(tenant=self.tenant, definition_id=definition_id)
        return paginated_response(self, request, queryset, DefinitionSummarySerializer)


class DefinitionVersionDetailView(TenantAPIView):
    @extend_schema(summary="One version of a definition",
                   responses={200: DefinitionSerializer, **ERRORS})
    def get(self, request: Request, definition_id: str, version: int) -> Response:
        found = definition_get_version(
            tenant=self.tenant, definition_id=definition_id, version=version
        )
        return Response(DefinitionSerializer(found).data)


class DefinitionValidateView(TenantAPIView):
    required_role = Role.VIEWER

    @extend_schema(summary="Validate a definition body without saving it",
                   request=DefinitionDocumentSerializer,
                   responses={200: ValidationResultSerializer, **ERRORS})
    def post(self, request: Request) -> Response:
        problems = definition_problems(request.data)
        return Response({"valid": not problems, "errors": problems})
