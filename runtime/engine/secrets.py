"""Secrets in expressions: `secrets.NAME` resolves a tenant's named secret when first read, and
its value never leaves the engine in anything that is stored or shown.

Pure runtime code: the application installs a `SecretSource` (resolving a name for an instance,
and the key that signs markers); nothing here knows where secrets live.

How a value stays out of storage:
- the `secrets` name is a dict that resolves on first read (`SecretNames`) and remembers what
  it handed out in this engine call;
- when the call ends (`Run.result`), every string in the journal, the execution records, the
  effects, the incidents and the instance state that contains a resolved value has it
  replaced by `***` (`mask_in_place`);
- task activities (HTTP requests, user activities) need the real value on a worker, later: their
  input carries a signed marker instead (`seal`), which `unseal` turns back into the current
  value just before the task runs, and the task's output and errors are masked again. Markers
  are signed per instance and name, so text copied into an instance's input cannot make a
  worker expand a secret.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Protocol

from runtime.engine.errors import NonRetryableError
from runtime.engine.expressions.pyexpr import EvaluationFailure

MASK = "***"
# Shorter values would mask ordinary text everywhere; the store refuses them.
MIN_SECRET_LENGTH = 4
_MARKER = re.compile(r"\[\[weft-secret:([A-Za-z_][A-Za-z0-9_]{0,63}):([0-9a-f]{24})\]\]")

# Values resolved by the task running in this thread/context: log processors mask them too.
ACTIVE_SECRET_VALUES: ContextVar[tuple[str, ...]] = ContextVar("weft_active_secret_values",
                                                               default=())


class SecretSource(Protocol):
    def resolve(self, instance_id: str, name: str) -> str | None:
        """The current value of secret `name` in the tenant of `instance_id`, or None."""

    def marker_key(self) -> bytes:
        """The key that signs task-input markers (stable across processes)."""


_source: SecretSource | None = None


def install_secret_source(source: SecretSource | None) -> None:
    global _source
    _source = source


class UnknownSecret(EvaluationFailure):
    pass


class SecretNames(dict):
    """The `secrets` name of an engine call. A dict, so that `secrets.NAME`, `secrets["NAME"]`
    and templates read it like any other mapping; only names read are resolved."""

    def __init__(self, instance_id: str) -> None:
        super().__init__()
        self.instance_id = instance_id

    def __missing__(self, name: Any) -> str:
        value = None
        if _source is not None and isinstance(name, str):
            value = _source.resolve(self.instance_id, name)
        if value is None:
            raise UnknownSecret(f"unknown secret {name!r}: no secret of that name in this "
                                "tenant (tenant admins manage them under /api/v1/secrets/)")
        dict.__setitem__(self, name, value)
        return value

    def __contains__(self, name: object) -> bool:
        # Templates test membership before reading: an unknown secret is an error there too,
        # never an empty string.
        self[name]
        return True

    def get(self, name: Any, default: Any = None) -> Any:
        return self[name]

    def values_to_mask(self) -> list[str]:
        return masked_values(dict.values(self))


def masked_values(values: Iterable[str]) -> list[str]:
    """Longest first, so that a value containing another is masked whole."""
    return sorted({v for v in values if isinstance(v, str) and len(v) >= MIN_SECRET_LENGTH},
                  key=len, reverse=True)


def mask_text(text: str, values: list[str]) -> str:
    for value in values:
        if value in text:
            text = text.replace(value, MASK)
    return text


def masked(obj: Any, values: list[str]) -> Any:
    """A copy of a JSON-like value with every secret value replaced by the mask."""
    if isinstance(obj, str):
        return mask_text(obj, values)
    if isinstance(obj, dict):
        return {masked(k, values): masked(v, values) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [masked(v, values) for v in obj]
    return obj


def mask_in_place(obj: Any, values: list[str]) -> None:
    """Masks strings inside dicts and lists without replacing the containers (the engine's
    state is shared with its caller)."""
    if isinstance(obj, dict):
        for key in list(obj):
            item = obj[key]
            if isinstance(key, str) and any(v in key for v in values):
                del obj[key]
                key = mask_text(key, values)
            if isinstance(item, str):
                obj[key] = mask_text(item, values)
            else:
                mask_in_place(item, values)
                obj[key] = item
    elif isinstance(obj, list):
        for index, item in enumerate(obj):
            if isinstance(item, str):
                obj[index] = mask_text(item, values)
            else:
                mask_in_place(item, values)


def _signature(instance_id: str, name: str) -> str:
    key = _source.marker_key() if _source is not None else b""
    return hmac.new(key, f"{instance_id}\x00{name}".encode(), hashlib.sha256).hexdigest()[:24]


def seal(obj: Any, secrets: dict[str, str], instance_id: str) -> Any:
    """A copy of a task's input with each resolved secret value replaced by its marker."""
    by_value = {value: name for name, value in secrets.items()
                if isinstance(value, str) and len(value) >= MIN_SECRET_LENGTH}
    markers = {value: f"[[weft-secret:{name}:{_signature(instance_id, name)}]]"
               for value, name in by_value.items()}
    order = sorted(markers, key=len, reverse=True)

    def walk(value: Any) -> Any:
        if isinstance(value, str):
            for secret in order:
                if secret in value:
                    value = value.replace(secret, markers[secret])
            return value
        if isinstance(value, dict):
            return {walk(k): walk(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [walk(v) for v in value]
        return value

    return walk(obj)


def unseal(obj: Any, instance_id: str) -> tuple[Any, list[str]]:
    """(the task input with genuine markers replaced by current values, the values used).
    A marker whose secret was deleted since fails the task; a forged one stays text."""
    used: dict[str, str] = {}

    def expand(match: re.Match) -> str:
        name, signature = match.group(1), match.group(2)
        if not hmac.compare_digest(signature, _signature(instance_id, name)):
            return match.group(0)
        if name not in used:
            value = _source.resolve(instance_id, name) if _source is not None else None
            if value is None:
                raise NonRetryableError(f"unknown secret {name!r}: it was deleted after the "
                                        "task was scheduled")
            used[name] = value
        return used[name]

    def walk(value: Any) -> Any:
        if isinstance(value, str):
            return _MARKER.sub(expand, value) if "[[weft-secret:" in value else value
        if isinstance(value, dict):
            return {walk(k): walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        return value

    return walk(obj), masked_values(used.values())


@contextmanager
def secrets_in_use(values: list[str]):
    """While a task runs with secret values, log processors mask them as well."""
    token = ACTIVE_SECRET_VALUES.set(tuple(values))
    try:
        yield
    finally:
        ACTIVE_SECRET_VALUES.reset(token)


def mask_exception(exc: BaseException, values: list[str]) -> None:
    """Masks the values in an exception's message (it becomes a step error and an incident)."""
    if not values:
        return
    seen: set[int] = set()
    current: BaseException | None = exc
    # The causes too: a logged traceback prints every exception of the chain.
    while current is not None and id(current) not in seen and len(seen) < 20:
        seen.add(id(current))
        if current.args:
            current.args = tuple(mask_text(a, values) if isinstance(a, str) else a
                                 for a in current.args)
        if isinstance(getattr(current, "message", None), str):
            current.message = mask_text(current.message, values)
        current = current.__cause__ or current.__context__


def mask_active_secrets_processor(_logger: Any, _method: str, event_dict: dict) -> dict:
    """A structlog processor: masks the secret values of the task running now, wherever they
    appear in a log line (a URL, an error message)."""
    values = ACTIVE_SECRET_VALUES.get()
    return masked(event_dict, list(values)) if values else event_dict
