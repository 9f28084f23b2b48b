"""What operators watch: worker processes and dead letters."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from api.pagination import (
    cursor_paginated,
    keyset_parameters,
    keyset_response,
    paginated,
    paginated_response,
)
from api.views.base import TenantAPIView, actor_of
from api.views.definitions import ERRORS
from workflows.models import DeadLetter, Role, WorkerProcess
from workflows.selectors.dead_letters import dead_letter_list
from workflows.selectors.workers import worker_list
from workflows.services.dead_letters import dead_letter_redrive


class WorkerSerializer(serializers.ModelSerializer):
    state = serializers.CharField(source="current_state")
    last_heartbeat = serializers.DateTimeField()
    started = serializers.DateTimeField(source="started_at")

    class Meta:
        model = WorkerProcess
        fields = ["name", "hostname", "pid", "queues", "started", "last_heartbeat",
                  "steps_in_flight", "state"]


class DeadLetterSerializer(serializers.ModelSerializer):
    step_id = serializers.UUIDField(allow_null=True)
    instance_id = serializers.UUIDField(allow_null=True)

    class Meta:
        model = DeadLetter
        fields = ["id", "queue", "message_id", "task_name", "step_id", "instance_id",
                  "receive_count", "received_at", "redriven_at", "body"]


class WorkerListView(TenantAPIView):
    """Workers are shared by every tenant; any member may see them."""

    @extend_schema(summary="Worker processes and their heartbeats",
                   responses={200: paginated(WorkerSerializer), **ERRORS})
    def get(self, request: Request) -> Response:
        return paginated_response(self, request, worker_list(), WorkerSerializer)


class DeadLetterListView(TenantAPIView):
    @extend_schema(summary="Messages that reached a dead-letter queue, newest first",
                   parameters=keyset_parameters(),
                   responses={200: cursor_paginated(DeadLetterSerializer), **ERRORS})
    def get(self, request: Request) -> Response:
        return keyset_response(self, request, dead_letter_list(tenant=self.tenant),
                               DeadLetterSerializer, ordering=("-received_at", "id"))


class DeadLetterRedriveView(TenantAPIView):
    required_role = Role.OPERATOR

    @extend_schema(summary="Re-drive a dead letter: its step runs again", request=None,
                   responses={200: DeadLetterSerializer, **ERRORS})
    def post(self, request: Request, dead_letter_id) -> Response:
        with self.audited("dead_letter.redrive", "dead_letter", dead_letter_id) as note:
            letter = dead_letter_redrive(tenant=self.tenant, dead_letter_id=dead_letter_id,
                                         actor=actor_of(request))
            note.summary = f"re-drove message {letter.message_id} of {letter.queue}"
        return Response(DeadLetterSerializer(letter).data)
