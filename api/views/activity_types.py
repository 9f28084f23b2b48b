import structlog
from django.conf import settings
from django.core.cache import cache
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from api.serializers_instances import ActivityTypeSerializer
from api.views.base import TenantAPIView
from api.views.definitions import ERRORS
from runtime.activities import default_registry

CACHE_KEY = "activity-types:v1"
logger = structlog.get_logger(__name__)


def _descriptors() -> list[dict]:
    """Descriptors are the same for every tenant; cached (24 h by default) when a cache works."""
    try:
        cached = cache.get(CACHE_KEY)
    except Exception as exc:
        logger.warning("activity_types_cache_unavailable", error=str(exc))
        cached = None
    if cached is None:
        cached = default_registry().descriptors()
        try:
            cache.set(CACHE_KEY, cached, settings.WEFT_ACTIVITY_TYPES_CACHE_TTL)
        except Exception as exc:  # a cache outage only costs recomputing
            logger.warning("activity_types_cache_unavailable", error=str(exc))
    return cached


class ActivityTypeListView(TenantAPIView):
    @extend_schema(summary="Activity type descriptors: built-in and user activities",
                   responses={200: ActivityTypeSerializer(many=True), **ERRORS})
    def get(self, request: Request) -> Response:
        return Response(_descriptors())
