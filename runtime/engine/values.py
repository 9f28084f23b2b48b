"""The value types of declarations and properties, and their checks."""

from __future__ import annotations

import math
import re
from datetime import date, datetime, timedelta

VALUE_TYPES = ("string", "number", "integer", "boolean", "object", "array", "any")


def matches_type(value, type_name: str) -> bool:
    """Whether a JSON value fits a declared type (None never fits a concrete type)."""
    if type_name == "any":
        return True
    if type_name == "string":
        return isinstance(value, str)
    if type_name == "boolean":
        return isinstance(value, bool)
    if type_name == "integer":
        # JSON has one number type: 3.0 is an integer for a user who typed 3.
        if isinstance(value, bool):
            return False
        return isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    if type_name == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if type_name == "object":
        return isinstance(value, dict)
    if type_name == "array":
        return isinstance(value, list)
    return False


def type_of(value) -> str:
    """The JSON type name of a value, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


_ISO_DURATION = re.compile(
    r"^P(?:(?P<weeks>\d+(?:\.\d+)?)W)?(?:(?P<days>\d+(?:\.\d+)?)D)?"
    r"(?:T(?:(?P<hours>\d+(?:\.\d+)?)H)?(?:(?P<minutes>\d+(?:\.\d+)?)M)?"
    r"(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$"
)


def parse_duration(value) -> timedelta:
    """Seconds (a number) or an ISO-8601 duration without years/months (`PT5M`, `P1DT2H`).

    Years and months are refused because their length depends on the calendar.
    """
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or an ISO-8601 string like PT5M")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return timedelta(seconds=value)
    if isinstance(value, str):
        text = value.strip().upper()
        match = _ISO_DURATION.match(text)
        if match and text not in ("P", "PT") and not text.endswith("T"):
            parts = {k: float(v) for k, v in match.groupdict().items() if v is not None}
            return timedelta(**parts)
    raise ValueError(
        f"invalid duration {value!r}: use seconds or ISO-8601 like PT5M (no years/months)"
    )


_JSON_SCALARS = (str, int, float, bool, type(None))
MAX_JSON_DEPTH = 64


def json_safe(value, _depth: int = 0):
    """A fresh, plain-JSON copy of an evaluated value, for the state.

    Expressions may return objects of the state itself (`variables`, `input`): storing those
    as-is would alias or even nest the state in itself. Dates become ISO strings, tuples lists;
    anything else that JSON cannot hold is an error (an incident for the activity).
    """
    if isinstance(value, _JSON_SCALARS):
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"{value} is not a JSON number")
        return value
    if _depth >= MAX_JSON_DEPTH:
        raise ValueError(f"value nests deeper than {MAX_JSON_DEPTH} levels (or contains itself)")
    if isinstance(value, dict):
        return {str(k): json_safe(v, _depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v, _depth + 1) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise ValueError(f"a {type(value).__name__} is not a JSON value")
