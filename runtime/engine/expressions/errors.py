"""The two errors callers of the expression layer ever see."""

from __future__ import annotations

_MAX_MESSAGE = 500


def _clip(text: str) -> str:
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 3] + "..."


class ExpressionError(Exception):
    """Base class: a property value could not be compiled or evaluated."""

    def __init__(self, message: str, source: str | None = None) -> None:
        self.message = _clip(message)
        self.source = source
        super().__init__(self.message)

    def __str__(self) -> str:
        if self.source is None:
            return self.message
        return f"{self.message} (in {_clip(self.source)!r})"


class ExpressionSyntaxError(ExpressionError):
    """Raised by ``compile_value``: bad syntax, a forbidden construct or a limit exceeded."""


class ExpressionEvaluationError(ExpressionError):
    """Raised by ``Compiled.evaluate``: any failure while evaluating."""

    def __init__(self, message: str, source: str | None) -> None:
        super().__init__(message, source)
