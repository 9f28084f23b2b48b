"""Cache-backed throttles that fail open: a cache outage must not refuse every request."""

import structlog
from django.conf import settings
from rest_framework.throttling import (
    AnonRateThrottle,
    SimpleRateThrottle,
    UserRateThrottle,
)

logger = structlog.get_logger(__name__)


def client_address(meta) -> str:
    """The address a throttle counts a request against.

    With no trusted proxy (`WEFT_TRUSTED_PROXIES=0`, the default) it is the socket's address:
    `X-Forwarded-For` is written by the client and ignored, so rotating it buys nothing.
    Behind N proxies that each append the address they received from, the client is the Nth
    address from the right; anything further left was written by the client.
    """
    remote = meta.get("REMOTE_ADDR", "")
    proxies = settings.WEFT_TRUSTED_PROXIES
    forwarded = meta.get("HTTP_X_FORWARDED_FOR", "")
    if proxies <= 0 or not forwarded:
        return remote
    hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
    return hops[-min(proxies, len(hops))] if hops else remote


class _FailOpen:
    def get_ident(self, request):
        return client_address(request.META)

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
