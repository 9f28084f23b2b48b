"""Weft's runtime. User code needs only `from runtime import activity, NonRetryableError`.

This package must stay importable without Django: user activity modules import it.
"""

from runtime.activities import activity
from runtime.engine.errors import NonRetryableError

__all__ = ["NonRetryableError", "activity"]
