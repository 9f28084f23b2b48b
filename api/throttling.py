"""Cache-backed throttles that fail open: a cache outage must not refuse every request."""

import structlog
from django.conf import settings
from django.http.request import HttpHeaders
from rest_framework.throttling import (
    AnonRateThrottle,
    BaseThrottle,
    SimpleRateThrottle,
    UserRateThrottle,
)

logger = structlog.get_logger(__name__)


def client_address(meta) -> str:
    """The address a throttle counts a request against (the audit log records it too): DRF's
    rule, from a request's META."""
    return _DRF_RULE.get_ident(_Meta(meta))


class _Meta:
    def __init__(self, meta) -> None:
        self.META = meta
        self.headers = HttpHeaders(meta)


_DRF_RULE = BaseThrottle()


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


class HookThrottle(_FailOpen, SimpleRateThrottle):
    """`/hooks/{tenant}/...` is public: each client address gets `WEFT_THROTTLE_HOOKS` requests
    per tenant, so one noisy caller can neither start unbounded workflows nor starve another
    tenant's endpoints."""

    scope = "hooks"

    def __init__(self, tenant_slug: str) -> None:
        self.tenant_slug = tenant_slug
        super().__init__()

    def get_rate(self) -> str:
        return settings.WEFT_THROTTLE_HOOKS

    def get_cache_key(self, request, view) -> str:
        return self.cache_format % {
            "scope": self.scope,
            "ident": f"{self.tenant_slug}:{self.get_ident(request)}",
        }
