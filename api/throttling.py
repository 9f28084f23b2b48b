"""Cache-backed throttles that fail open: a cache outage must not refuse every request."""

import structlog
from rest_framework.throttling import AnonRateThrottle, UserRateThrottle

logger = structlog.get_logger(__name__)


class _FailOpen:
    def allow_request(self, request, view):
        try:
            return super().allow_request(request, view)
        except Exception as exc:
            logger.warning("throttle_cache_unavailable", error=str(exc))
            return True


class AnonymousThrottle(_FailOpen, AnonRateThrottle):
    pass


class UserThrottle(_FailOpen, UserRateThrottle):
    pass
