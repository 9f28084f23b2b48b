"""Domain errors. Raised where they happen; the API maps each to a status and the
`{"error": {"code", "message", "details"}}` body."""

from typing import Any


class WeftError(Exception):
    code = "error"

    def __init__(self, message: str, *, code: str | None = None, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.details = details if details is not None else {}


class InvalidInput(WeftError):
    """Bad input from the caller (400). `details` carries `errors: [{path, message}]`."""

    code = "invalid"

    def __init__(self, message: str, *, errors: list[dict] | None = None, code: str | None = None):
        super().__init__(message, code=code, details={"errors": errors or []})


class NotFound(WeftError):
    code = "not_found"


class Conflict(WeftError):
    code = "conflict"


class Forbidden(WeftError):
    code = "permission_denied"


class Unavailable(WeftError):
    """A store Weft depends on (the S3 archive) cannot answer now (503)."""

    code = "unavailable"
