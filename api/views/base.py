import structlog
from rest_framework.views import APIView

from api.permissions import TenantRole
from workflows.auditing import audited, request_actor


def actor_of(request) -> str:
    """Who acts, as the journal names them (the user behind the access token)."""
    return request.user.get_username()


class TenantAPIView(APIView):
    """An endpoint acting inside one tenant (resolved into `request.tenant_access`)."""

    permission_classes = [TenantRole]

    def _latest(self, definition_id: str) -> dict:
        """The latest version as the API shows it (after a write, read back once)."""
        from api.serializers import DefinitionSerializer
        from workflows.selectors.definitions import definition_get_latest

        return DefinitionSerializer(
            definition_get_latest(tenant=self.tenant, definition_id=definition_id)
        ).data

    def audited(self, action: str, target_type: str, target_id="", summary: str = ""):
        """The view's change and its audit entry, in one transaction (`workflows.auditing`)."""
        return audited(request_actor(self.request, via="api"), action=action,
                       tenant=self.tenant, target_type=target_type, target_id=str(target_id),
                       summary=summary)

    @property
    def tenant(self):
        return self.request.tenant_access.tenant

    def initial(self, request, *args, **kwargs):
        # Log lines of this request name the definition or instance it is about.
        for key in ("definition_id", "instance_id"):
            if key in kwargs:
                structlog.contextvars.bind_contextvars(**{key: kwargs[key]})
        super().initial(request, *args, **kwargs)
