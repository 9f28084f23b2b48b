"""Domain errors of the engine; adapters map them to API errors."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a definition or an input, at a JSON path."""

    path: str
    message: str

    def as_dict(self) -> dict:
        return {"path": self.path, "message": self.message}


class EngineError(Exception):
    """Base class of every error the engine raises on purpose."""


class DefinitionInvalid(EngineError):
    """A definition body has problems; `problems` lists every one of them."""

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        first = self.problems[0] if self.problems else Problem("$", "invalid definition")
        more = f" (and {len(self.problems) - 1} more)" if len(self.problems) > 1 else ""
        super().__init__(f"{first.path}: {first.message}{more}")


class UnknownKey(EngineError):
    """A task or bookmark key the state does not know (already completed or cancelled)."""


class InvalidTransition(EngineError):
    """The instance is not in a status that allows the requested operation."""


class NonRetryableError(Exception):
    """Raised by a user activity to fail at once, skipping the remaining retries."""


class TaskFailure(Exception):
    """Raised by a built-in task when its work failed; `retryable` says whether to try again."""

    def __init__(self, message: str, *, retryable: bool = True):
        super().__init__(message)
        self.retryable = retryable
