"""Published definitions cached in Redis (TTL from settings, 1 h by default).

The cache is an optimisation only: any cache failure is logged as a warning, counted, and the
caller falls back to the database, so a Redis outage never turns into a 500. Entries are
invalidated after the commit that changes what is published; a write that fails while Redis is
down is bounded by the TTL (and a restarted Redis here keeps nothing on disk).
"""

from typing import Any

import structlog
from django.conf import settings
from django.core.cache import cache
from django.db import transaction

from workflows.instruments import DEFINITION_CACHE_REQUESTS

logger = structlog.get_logger(__name__)
_MISSING = object()


def _key(tenant_id: int, definition_id: str) -> str:
    return f"definition:published:{tenant_id}:{definition_id}"


def cached_published_get(tenant_id: int, definition_id: str) -> Any:
    """The cached entry, `None` when cached as "nothing published", or `_MISSING`."""
    try:
        value = cache.get(_key(tenant_id, definition_id), _MISSING)
    except Exception as exc:  # any backend failure degrades to the database
        DEFINITION_CACHE_REQUESTS.labels(result="error").inc()
        logger.warning("definition_cache_unavailable", operation="get", error=str(exc),
                       definition_id=definition_id)
        return _MISSING
    DEFINITION_CACHE_REQUESTS.labels(result="miss" if value is _MISSING else "hit").inc()
    return value


def cached_published_set(tenant_id: int, definition_id: str, value: dict | None) -> None:
    try:
        cache.set(_key(tenant_id, definition_id), value, settings.WEFT_DEFINITION_CACHE_TTL)
    except Exception as exc:
        logger.warning("definition_cache_unavailable", operation="set", error=str(exc),
                       definition_id=definition_id)


def cached_published_invalidate_on_commit(tenant_id: int, definition_id: str) -> None:
    def invalidate() -> None:
        try:
            cache.delete(_key(tenant_id, definition_id))
        except Exception as exc:
            logger.warning("definition_cache_unavailable", operation="delete", error=str(exc),
                           definition_id=definition_id)

    transaction.on_commit(invalidate)


MISSING = _MISSING
