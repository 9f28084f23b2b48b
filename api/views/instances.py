"""Running workflows: execute, instances and their records, events, bookmarks."""

import uuid

from django.utils.dateparse import parse_datetime
from drf_spectacular.utils import OpenApiParameter, PolymorphicProxySerializer, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from api.pagination import (
    cursor_paginated,
    keyset_parameters,
    keyset_response,
    paginated,
    paginated_response,
)
from api.serializers_archives import ArchiveContentSerializer, ArchivedInstanceSerializer
from api.serializers_instances import (
    ActivityExecutionSerializer,
    BookmarkSerializer,
    DispatchResultSerializer,
    EventRequestSerializer,
    EventResultSerializer,
    InstanceDetailSerializer,
    InstanceSerializer,
    JournalEntrySerializer,
    ResumeRequestSerializer,
    StartRequestSerializer,
)
from api.views.base import TenantAPIView, actor_of
from api.views.definitions import ERRORS
from workflows.auditing import event_summary
from workflows.errors import InvalidInput, NotFound
from workflows.models import Role
from workflows.selectors import instances as selectors
from workflows.selectors.archives import instance_archive_find
from workflows.services import archive, bookmarks, events, inline, instance_actions, instances


def _datetime_param(request: Request, name: str):
    raw = request.query_params.get(name)
    if not raw:
        return None
    try:
        value = parse_datetime(raw)
    except ValueError:
        value = None
    if value is None:
        raise InvalidInput(f"{name} must be an ISO-8601 date-time.",
                           errors=[{"path": name, "message": "Expected ISO-8601."}])
    return value


def _int_param(request: Request, name: str) -> int | None:
    raw = request.query_params.get(name)
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError:
        raise InvalidInput(f"{name} must be a whole number.",
                           errors=[{"path": name, "message": "Expected an integer."}]) from None


def _uuid_param(request: Request, name: str):
    raw = request.query_params.get(name)
    if not raw:
        return None
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise InvalidInput(f"{name} must be a UUID.",
                           errors=[{"path": name, "message": "Expected a UUID."}]) from None


class DefinitionExecuteView(TenantAPIView):
    required_role = Role.OPERATOR

    @extend_schema(summary="Start the published version and run it synchronously",
                   request=StartRequestSerializer,
                   responses={200: InstanceDetailSerializer, **ERRORS})
    def post(self, request: Request, definition_id: str) -> Response:
        body = StartRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        instance = inline.instance_execute(
            tenant=self.tenant, definition_id=definition_id, **body.validated_data
        )
        found = selectors.instance_get(tenant=self.tenant, instance_id=instance.id)
        return Response(InstanceDetailSerializer(found).data)


class DefinitionDispatchView(TenantAPIView):
    required_role = Role.OPERATOR

    @extend_schema(summary="Start the published version on the workers",
                   request=StartRequestSerializer,
                   responses={202: DispatchResultSerializer, **ERRORS})
    def post(self, request: Request, definition_id: str) -> Response:
        body = StartRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        instance = instances.instance_dispatch(
            tenant=self.tenant, definition_id=definition_id, **body.validated_data
        )
        return Response({"id": str(instance.id), "status": instance.status},
                        status=status.HTTP_202_ACCEPTED)


# Newest first; the keyset is created_at (rows created in the same microsecond are told apart
# by the cursor's offset), served by the instance_* indexes that end in created_at.
INSTANCE_ORDER = ("-created_at", "id")


class InstanceListView(TenantAPIView):
    @extend_schema(
        summary="List instances, newest first", operation_id="v1_instances_list",
        parameters=[
            OpenApiParameter("definition_id", str), OpenApiParameter("status", str),
            OpenApiParameter("version", int), OpenApiParameter("correlation_id", str),
            OpenApiParameter("parent_id", str, description="children of this instance"),
            OpenApiParameter("created_after", str, description="ISO-8601"),
            OpenApiParameter("created_before", str, description="ISO-8601"),
            *keyset_parameters(),
        ],
        responses={200: cursor_paginated(InstanceSerializer), **ERRORS},
    )
    def get(self, request: Request) -> Response:
        params = request.query_params
        queryset = selectors.instance_list(
            tenant=self.tenant, definition_id=params.get("definition_id"),
            status=params.get("status"), correlation_id=params.get("correlation_id"),
            created_after=_datetime_param(request, "created_after"),
            created_before=_datetime_param(request, "created_before"),
            version=_int_param(request, "version"), parent_id=_uuid_param(request, "parent_id"),
        )
        return keyset_response(self, request, queryset, InstanceSerializer,
                               ordering=INSTANCE_ORDER)


class InstanceDetailView(TenantAPIView):
    write_role = Role.OPERATOR

    @extend_schema(
        summary="One instance",
        description="An instance that retention archived and deleted answers 200 with "
                    "`archived: true` and where its archive is (`instances/{id}/archive/` "
                    "reads it back).",
        responses={200: PolymorphicProxySerializer(
            component_name="InstanceOrArchived",
            serializers=[InstanceDetailSerializer, ArchivedInstanceSerializer],
            resource_type_field_name=None), **ERRORS})
    def get(self, request: Request, instance_id) -> Response:
        try:
            instance = selectors.instance_get(tenant=self.tenant, instance_id=instance_id)
        except NotFound:
            archived = instance_archive_find(tenant=self.tenant, instance_id=instance_id)
            if archived is None:
                raise
            return Response(ArchivedInstanceSerializer(archived).data)
        return Response(InstanceDetailSerializer(instance).data)

    @extend_schema(summary="Delete a finished, faulted or cancelled instance",
                   responses={204: None, **ERRORS})
    def delete(self, request: Request, instance_id) -> Response:
        with self.audited("instance.delete", "instance", instance_id, "deleted"):
            instance_actions.instance_delete(tenant=self.tenant, instance_id=instance_id,
                                             actor=actor_of(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class _InstanceActionView(TenantAPIView):
    """An operator action on one instance; an impossible transition is a 409."""

    required_role = Role.OPERATOR
    service = None
    action = ""

    def post(self, request: Request, instance_id) -> Response:
        with self.audited(f"instance.{self.action}", "instance", instance_id, self.action):
            type(self).service(tenant=self.tenant, instance_id=instance_id,
                               actor=actor_of(request))
        return Response(InstanceDetailSerializer(
            selectors.instance_get(tenant=self.tenant, instance_id=instance_id)).data)


def _action_view(name: str, service, action: str, summary: str) -> type:
    # A function of its own per view: decorating the inherited `post` would give every
    # action the schema of the last one.
    def post(self, request: Request, instance_id) -> Response:
        return _InstanceActionView.post(self, request, instance_id)

    post = extend_schema(summary=summary, request=None,
                         responses={200: InstanceDetailSerializer, **ERRORS})(post)
    return type(name, (_InstanceActionView,),
                {"service": staticmethod(service), "action": action, "post": post})


InstanceCancelView = _action_view(
    "InstanceCancelView", instance_actions.instance_cancel, "cancel",
    "Cancel an active instance: pending steps, bookmarks and children too")
InstanceSuspendView = _action_view(
    "InstanceSuspendView", instance_actions.instance_hold, "suspend",
    "Hold an active instance: no new step runs until it is resumed")
InstanceResumeView = _action_view(
    "InstanceResumeView", instance_actions.instance_release, "resume",
    "Release a held instance")
InstanceRetryView = _action_view(
    "InstanceRetryView", instance_actions.instance_retry, "retry",
    "Run a faulted instance again from the activity that faulted")


class InstanceArchiveView(TenantAPIView):
    @extend_schema(summary="Read an archived instance back from its archive",
                   responses={200: ArchiveContentSerializer, **ERRORS})
    def get(self, request: Request, instance_id) -> Response:
        content = archive.archive_records_read(store=archive.archive_store_from_settings(),
                                               tenant=self.tenant, instance_id=instance_id)
        return Response(ArchiveContentSerializer(content).data)


class InstanceJournalView(TenantAPIView):
    @extend_schema(summary="Execution log, in sequence order", parameters=keyset_parameters(),
                   responses={200: cursor_paginated(JournalEntrySerializer), **ERRORS})
    def get(self, request: Request, instance_id) -> Response:
        queryset = selectors.instance_journal(tenant=self.tenant, instance_id=instance_id)
        return keyset_response(self, request, queryset, JournalEntrySerializer,
                               ordering=("sequence",))


class InstanceActivityExecutionsView(TenantAPIView):
    @extend_schema(summary="Per-activity execution records", parameters=keyset_parameters(),
                   responses={200: cursor_paginated(ActivityExecutionSerializer), **ERRORS})
    def get(self, request: Request, instance_id) -> Response:
        queryset = selectors.instance_activity_executions(tenant=self.tenant,
                                                          instance_id=instance_id)
        return keyset_response(self, request, queryset, ActivityExecutionSerializer,
                               ordering=("id",))


class InstanceBookmarksView(TenantAPIView):
    @extend_schema(summary="What the instance is waiting for",
                   responses={200: paginated(BookmarkSerializer), **ERRORS})
    def get(self, request: Request, instance_id) -> Response:
        queryset = selectors.instance_bookmarks(tenant=self.tenant, instance_id=instance_id)
        return paginated_response(self, request, queryset, BookmarkSerializer)


class EventPublishView(TenantAPIView):
    required_role = Role.OPERATOR

    @extend_schema(summary="Publish an event: resume matching bookmarks",
                   request=EventRequestSerializer, responses={200: EventResultSerializer, **ERRORS})
    def post(self, request: Request, name: str) -> Response:
        body = EventRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        with self.audited("event.publish", "event", name) as note:
            result = events.event_publish(tenant=self.tenant, name=name,
                                          payload=data["payload"],
                                          correlation_id=data["correlation_id"],
                                          retain_seconds=data["retain_seconds"])
            note.summary = event_summary(result)
            note.details = {"correlation_id": data["correlation_id"],
                            "resumed": result["resumed"], "started": result["started"]}
        return Response(result)


class BookmarkResumeView(TenantAPIView):
    required_role = Role.OPERATOR

    @extend_schema(summary="Resume one bookmark", request=ResumeRequestSerializer,
                   responses={200: InstanceDetailSerializer, **ERRORS})
    def post(self, request: Request, bookmark_id) -> Response:
        body = ResumeRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        with self.audited("bookmark.resume", "bookmark", bookmark_id) as note:
            instance = bookmarks.bookmark_resume(tenant=self.tenant, bookmark_id=bookmark_id,
                                                 payload=body.validated_data["payload"],
                                                 actor=actor_of(request))
            note.summary = f"resumed a wait of instance {instance.id}"
            note.details = {"instance_id": str(instance.id)}
        return Response(InstanceDetailSerializer(
            selectors.instance_get(tenant=self.tenant, instance_id=instance.id)).data)
