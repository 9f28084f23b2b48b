"""Checks of literal property values against their declared property type."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from runtime.engine.values import VALUE_TYPES, matches_type, parse_duration, type_of


def parse_datetime(value) -> datetime:
    """An ISO-8601 instant; a naive one is taken as UTC so that due times stay comparable."""
    from datetime import UTC

    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    else:
        raise ValueError(f"expected an ISO-8601 date-time, got {type_of(value)}")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment


def check_literal(spec, value) -> str | None:
    """A problem message when `value` does not fit `spec`, else None."""
    kind = spec.type
    if kind in VALUE_TYPES:
        if not matches_type(value, kind):
            return f"must be of type {kind}, got {type_of(value)}"
    elif kind == "duration":
        try:
            parse_duration(value)
        except ValueError as exc:
            return str(exc)
    elif kind == "datetime":
        try:
            parse_datetime(value)
        except ValueError as exc:
            return f"invalid date-time: {exc}"
    elif kind == "cron":
        from croniter import croniter

        if not isinstance(value, str) or not croniter.is_valid(value):
            return f"invalid cron expression {value!r}"
    elif kind == "timezone":
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, TypeError):
            return f"unknown time zone {value!r}"
    if spec.choices and value not in spec.choices:
        return f"must be one of: {', '.join(str(c) for c in spec.choices)}"
    return None
