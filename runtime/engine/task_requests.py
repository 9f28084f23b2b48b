"""Task activities run outside the engine: the request shape, retries, and the runner.

The engine only decides that a task must run (a `TaskRequest` in `EngineResult.tasks`); an
adapter runs it with `execute_task` wherever it likes and answers with `complete_task` or,
once retries are spent, `fail_task`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from runtime.engine.errors import NonRetryableError
from runtime.engine.secrets import mask_exception, masked, secrets_in_use, unseal

BACKOFFS = ("exponential", "linear", "fixed")
DEFAULT_RETRY_POLICY = {
    "max_attempts": 3,
    "backoff": "exponential",
    "initial_interval": 1,
    "max_interval": 300,
    # Share of the delay taken off at random, so that retries of many failed tasks spread out.
    "jitter": 0.25,
}


def check_retry_policy(raw: Any) -> list[tuple[str, str]]:
    """(key, message) for each problem in a retry policy object."""
    if not isinstance(raw, dict):
        return [("", "must be an object like {\"max_attempts\": 3}")]
    problems = []
    unknown = sorted(set(raw) - set(DEFAULT_RETRY_POLICY))
    for key in unknown:
        problems.append((key, f"unknown retry option; known: {', '.join(DEFAULT_RETRY_POLICY)}"))
    attempts = raw.get("max_attempts", 1)
    if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1:
        problems.append(("max_attempts", "must be an integer >= 1"))
    if raw.get("backoff", "exponential") not in BACKOFFS:
        problems.append(("backoff", f"must be one of: {', '.join(BACKOFFS)}"))
    for key in ("initial_interval", "max_interval"):
        value = raw.get(key, 0)
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            problems.append((key, "must be a number of seconds >= 0"))
    jitter = raw.get("jitter", 0)
    if isinstance(jitter, bool) or not isinstance(jitter, int | float) or not 0 <= jitter <= 1:
        problems.append(("jitter", "must be a number between 0 and 1"))
    return problems


def merged_retry_policy(*layers: dict | None) -> dict:
    """The default policy overridden by each layer in turn (activity default, then node)."""
    policy = dict(DEFAULT_RETRY_POLICY)
    for layer in layers:
        if layer:
            policy.update({k: v for k, v in layer.items() if k in DEFAULT_RETRY_POLICY})
    return policy


def retry_delay(policy: dict | None, attempt: int, jitter_fraction: float) -> float:
    """Seconds to wait before retrying after failed attempt number `attempt` (1-based).

    `jitter_fraction` is a random number in [0, 1] chosen by the caller (the engine never
    draws random numbers). The delay lies in [(1 - jitter) * capped, capped] where `capped`
    is the backoff step limited to `max_interval`; it never exceeds `max_interval`.
    """
    policy = merged_retry_policy(policy)
    initial = float(policy["initial_interval"])
    attempt = max(1, int(attempt))
    backoff = policy["backoff"]
    if backoff == "fixed":
        base = initial
    elif backoff == "linear":
        base = initial * attempt
    else:
        # Cap the exponent: 2**1000 overflows float arithmetic long after max_interval applies.
        base = initial * (2.0 ** min(attempt - 1, 60))
    capped = min(base, float(policy["max_interval"]))
    fraction = min(max(float(jitter_fraction), 0.0), 1.0)
    return capped * (1.0 - float(policy["jitter"]) * fraction)


def should_retry(policy: dict | None, attempt: int, error: BaseException) -> bool:
    """Whether a failed attempt gets another try."""
    if isinstance(error, NonRetryableError):
        return False
    if getattr(error, "retryable", True) is False:
        return False
    return attempt < merged_retry_policy(policy)["max_attempts"]


@dataclass(frozen=True, slots=True)
class TaskContext:
    """What a user activity's optional `context` parameter receives."""

    instance_id: str
    step_id: str | None
    attempt: int
    correlation_id: str | None
    idempotency_key: str


@dataclass(frozen=True, slots=True)
class TaskRequest:
    """A task activity to run outside the engine; JSON-safe through `as_dict`/`from_dict`."""

    key: str
    instance_id: str
    definition_id: str | None
    activity_id: str
    activity_type: str
    input: dict
    attempt: int = 1
    retry: dict = field(default_factory=lambda: dict(DEFAULT_RETRY_POLICY))
    timeout: float | None = None
    queue: str = "default"
    correlation_id: str | None = None
    # Stable across retries of one task, so that a charged card is not charged twice.
    idempotency_key: str = ""
    # The activity's secret parameters: storage encrypts them in the step's payload.
    secret_names: tuple[str, ...] = ()

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> TaskRequest:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})

    def context(self, *, step_id: str | None = None, attempt: int | None = None) -> TaskContext:
        return TaskContext(
            instance_id=self.instance_id,
            step_id=step_id,
            attempt=attempt if attempt is not None else self.attempt,
            correlation_id=self.correlation_id,
            idempotency_key=self.idempotency_key,
        )


def execute_task(registry, request: TaskRequest, context: TaskContext, *,
                 http_allowed_hosts=()) -> Any:
    """Runs one task (a user function or `SendHttpRequest`) and returns its JSON output.

    Errors propagate: `NonRetryableError` (or an error with `retryable = False`) means 'do not
    retry'; anything else is retryable per the request's policy (see `should_retry`).
    """
    activity = registry.get(request.activity_type)
    if activity is None or activity.kind != "task":
        raise NonRetryableError(f"unknown task activity type {request.activity_type!r}")
    # Secrets referenced by the definition travel as signed markers; the values exist only
    # while the task runs, and what it returns or raises is masked before anyone stores it.
    arguments, secret_values = unseal(request.input, request.instance_id)
    with secrets_in_use(secret_values):
        try:
            output = activity.run_task(arguments, context,
                                       http_allowed_hosts=tuple(http_allowed_hosts))
        except Exception as exc:
            mask_exception(exc, secret_values)
            raise
    if secret_values:
        output = masked(output, secret_values)
    try:
        json.dumps(output)
    except (TypeError, ValueError) as exc:
        raise NonRetryableError(
            f"{request.activity_type} returned a value that is not JSON: {exc}"
        ) from exc
    return output
