"""Weft's runtime. User code needs only `from runtime import activity, NonRetryableError`.

This package must stay importable without Django: user activity modules import it.
"""

from runtime.engine.errors import NonRetryableError
from runtime.engine.user import activity

__all__ = ["NonRetryableError", "activity"]
