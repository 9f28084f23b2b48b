"""How a failed task is kept for operators: its traceback, bounded in size."""

import traceback

from runtime.engine.errors import TaskFailure
from workflows import tracing

MAX_TRACEBACK_CHARS = 16_000


def traceback_of(exc: BaseException) -> str:
    """The formatted traceback of `exc` ("" for a built-in activity's described failure,
    such as an HTTP request that got no answer: its message says it all). The innermost
    frames are kept when it is long, since that is where a user activity raised."""
    if isinstance(exc, TaskFailure):
        return ""
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    if len(text) > MAX_TRACEBACK_CHARS:
        text = "...\n" + text[-MAX_TRACEBACK_CHARS:]
    return text


def log_activity_failure(logger, *, request, attempt: int, exc: BaseException,
                         will_retry: bool, step_id: str | None = None) -> None:
    """One warning per failed attempt of a task activity, with the ids to find it by (and
    the error on the step's span)."""
    tracing.record_error(exc)
    logger.warning(
        "activity_failed", instance_id=request.instance_id,
        definition_id=request.definition_id, correlation_id=request.correlation_id,
        step_id=step_id, activity_id=request.activity_id, activity_type=request.activity_type,
        attempt=attempt, will_retry=will_retry, error_type=type(exc).__name__,
        error=str(exc) or type(exc).__name__,
    )
