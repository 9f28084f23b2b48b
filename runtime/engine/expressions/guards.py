"""Size-checked operators, functions and methods shared by expressions and templates.

Checks happen *before* an allocation whenever the size is predictable ('a' * 10**9,
2 ** 10**9), and right after otherwise (the result is already bounded by its inputs).
"""

from __future__ import annotations

import datetime as dt
import math
import operator
from collections.abc import Callable
from types import ModuleType
from typing import Any

from .limits import (
    MAX_COLLECTION_LENGTH,
    MAX_INT_BITS,
    MAX_RESULT_WEIGHT,
    MAX_STRING_LENGTH,
    LimitExceeded,
    charge_current,
    check_clock,
)

NUMBER_TYPES = (int, float)  # bool is an int
SEQUENCE_TYPES = (str, list, tuple)
CONTAINER_TYPES = (list, tuple, dict)
SCALAR_TYPES = frozenset({str, int, float, bool, type(None)})


def _limit_for(value: Any) -> int:
    return MAX_STRING_LENGTH if isinstance(value, str) else MAX_COLLECTION_LENGTH


def check_size(value: Any) -> Any:
    """Reject strings and collections over their length limit; returns the value."""
    if isinstance(value, str):
        if len(value) > MAX_STRING_LENGTH:
            raise LimitExceeded(f"string longer than {MAX_STRING_LENGTH} characters")
    elif isinstance(value, (list, tuple, dict)) and len(value) > MAX_COLLECTION_LENGTH:
        raise LimitExceeded(f"collection longer than {MAX_COLLECTION_LENGTH} elements")
    return value


def weigh(value: Any, limit: int = MAX_RESULT_WEIGHT) -> int:
    """Approximate serialised size of ``value``, counting aliased parts every time.

    Stops as soon as ``limit`` is passed, so the walk itself is bounded. Also refuses
    callables, so a function or class is never turned into text or returned.
    """
    total = 0
    steps = 0
    stack = [value]
    while stack:
        steps += 1
        if not steps & 0x3FF:
            check_clock()
        item = stack.pop()
        kind = type(item)
        if kind is str:
            total += len(item) + 2
        elif kind is int:
            total += item.bit_length() // 3 + 1
        elif isinstance(item, (list, tuple)):
            total += 1
            stack.extend(item)
        elif isinstance(item, dict):
            total += 1
            stack.extend(item.keys())
            stack.extend(item.values())
        else:
            if callable(item) or isinstance(item, ModuleType):
                raise TypeError("functions, classes and modules are not data")
            total += 8
        if total > limit:
            raise LimitExceeded(f"value larger than {limit} units once serialised")
    return total


def check_weight(value: Any) -> Any:
    if type(value) not in SCALAR_TYPES:
        weigh(value)
    return value


def charge_built(value: Any) -> Any:
    """Count a newly built value against the evaluation's allocation budget; returns it.

    Strings count their length; collections their weight (a single intermediate value is
    bounded like a result). Scalars are free.
    """
    kind = type(value)
    if kind is str:
        charge_current(len(value))
    elif kind not in SCALAR_TYPES:
        charge_current(weigh(value))
    return value


# -- operators ---------------------------------------------------------------------------


def guarded_add(a: Any, b: Any) -> Any:
    if (
        isinstance(a, SEQUENCE_TYPES)
        and isinstance(b, SEQUENCE_TYPES)
        and len(a) + len(b) > _limit_for(a)
    ):
        raise LimitExceeded("concatenation result too long")
    return a + b


def _check_repeat(seq: Any, times: Any) -> None:
    if isinstance(times, int) and times > 0:
        if len(seq) * times > _limit_for(seq):
            raise LimitExceeded("repetition result too long")
        if not isinstance(seq, str) and len(seq) and weigh(seq) * times > MAX_RESULT_WEIGHT:
            raise LimitExceeded("repetition result too large")


def guarded_mul(a: Any, b: Any) -> Any:
    if isinstance(a, int) and isinstance(b, int):
        if a.bit_length() + b.bit_length() > MAX_INT_BITS:
            raise LimitExceeded(f"integer result larger than {MAX_INT_BITS} bits")
    elif isinstance(a, SEQUENCE_TYPES):
        _check_repeat(a, b)
    elif isinstance(b, SEQUENCE_TYPES):
        _check_repeat(b, a)
    return a * b


def guarded_pow(a: Any, b: Any) -> Any:
    big = isinstance(a, int) and isinstance(b, int) and b > 0 and abs(a) > 1
    if big and math.log2(abs(a)) * b > MAX_INT_BITS:
        raise LimitExceeded(f"integer result larger than {MAX_INT_BITS} bits")
    result = a**b
    if isinstance(result, complex):
        raise LimitExceeded("complex numbers are not supported")
    return result


def guarded_lshift(a: Any, b: Any) -> Any:
    if isinstance(a, int) and isinstance(b, int) and b > 0 and a.bit_length() + b > MAX_INT_BITS:
        raise LimitExceeded(f"integer result larger than {MAX_INT_BITS} bits")
    return a << b


def guarded_mod(a: Any, b: Any) -> Any:
    if isinstance(a, str):
        # printf-style formatting can pad to any width; f-strings and templates cover it.
        raise LimitExceeded("'%' formatting of strings is not supported; use an f-string")
    return a % b


def guarded_or(a: Any, b: Any) -> Any:
    return check_size(a | b)


BINARY_OPERATORS: dict[str, Callable[[Any, Any], Any]] = {
    "+": guarded_add,
    "-": operator.sub,
    "*": guarded_mul,
    "/": operator.truediv,
    "//": operator.floordiv,
    "%": guarded_mod,
    "**": guarded_pow,
    "<<": guarded_lshift,
    ">>": operator.rshift,
    "|": guarded_or,
    "&": operator.and_,
    "^": operator.xor,
}


# -- functions ---------------------------------------------------------------------------


def safe_str(value: Any = "") -> str:
    if type(value) is not str:
        if type(value) not in SCALAR_TYPES:
            weigh(value, MAX_STRING_LENGTH)
        value = str(value)
    return check_size(value)


def safe_repr(value: Any) -> str:
    if type(value) not in SCALAR_TYPES:
        weigh(value, MAX_STRING_LENGTH)
    return check_size(repr(value))


def safe_range(*args: Any) -> list[int]:
    span = range(*args)
    if len(span) > MAX_COLLECTION_LENGTH:
        raise LimitExceeded(f"range longer than {MAX_COLLECTION_LENGTH} elements")
    return list(span)


def safe_round(number: Any, ndigits: Any = None) -> Any:
    if ndigits is not None and isinstance(ndigits, int) and abs(ndigits) > 400:
        raise LimitExceeded("round(): ndigits out of range")
    return round(number) if ndigits is None else round(number, ndigits)


def safe_sum(values: Any, start: Any = 0) -> Any:
    items = list(values)
    for item in (start, *items):
        if not isinstance(item, NUMBER_TYPES):
            raise TypeError("sum() adds numbers only")
    return sum(items, start)


def safe_list(values: Any = ()) -> list[Any]:
    if isinstance(values, dict):
        values = values.keys()
    return check_size(list(values))


def safe_dict(*args: Any, **kwargs: Any) -> dict[Any, Any]:
    return check_size(dict(*args, **kwargs))


def safe_sorted(values: Any, *, reverse: bool = False) -> list[Any]:
    return check_size(sorted(values, reverse=reverse))


def safe_int(value: Any = 0, *args: Any) -> int:
    result = int(value, *args)
    if result.bit_length() > MAX_INT_BITS:
        raise LimitExceeded(f"integer larger than {MAX_INT_BITS} bits")
    return result


def _min_max(pick: Callable[..., Any]) -> Callable[..., Any]:
    def call(*args: Any, **kwargs: Any) -> Any:
        if set(kwargs) - {"default"}:
            raise TypeError(f"{pick.__name__}() accepts only the 'default' keyword")
        return pick(*args, **kwargs)

    return call


# Names callable in expressions. Functions are never values: they can only be called.
SAFE_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "len": len,
    "str": safe_str,
    "int": safe_int,
    "float": float,
    "bool": bool,
    "abs": abs,
    "min": _min_max(min),
    "max": _min_max(max),
    "round": safe_round,
    "sum": safe_sum,
    "sorted": safe_sorted,
    "any": any,
    "all": all,
    "list": safe_list,
    "dict": safe_dict,
    "range": safe_range,
}


# -- methods -----------------------------------------------------------------------------


def _padded(method: Callable[..., str]) -> Callable[..., str]:
    def call(text: str, width: int, *args: Any) -> str:
        if isinstance(width, int) and width > MAX_STRING_LENGTH:
            raise LimitExceeded(f"width larger than {MAX_STRING_LENGTH}")
        return method(text, width, *args)

    return call


def str_replace(text: str, old: str, new: str, count: int = -1) -> str:
    if isinstance(old, str) and isinstance(new, str) and len(new) > len(old):
        hits = text.count(old) if old else len(text) + 1
        if count is not None and 0 <= count < hits:
            hits = count
        if len(text) + hits * (len(new) - len(old)) > MAX_STRING_LENGTH:
            raise LimitExceeded("replace() result too long")
    return text.replace(old, new, count)


def str_join(separator: str, values: Any) -> str:
    items = list(values)
    if not all(isinstance(item, str) for item in items):
        raise TypeError("join() expects strings")
    if sum(map(len, items)) + len(separator) * max(len(items) - 1, 0) > MAX_STRING_LENGTH:
        raise LimitExceeded("join() result too long")
    return separator.join(items)


def str_expandtabs(text: str, tabsize: int = 8) -> str:
    if isinstance(tabsize, int) and len(text) + text.count("\t") * tabsize > MAX_STRING_LENGTH:
        raise LimitExceeded("expandtabs() result too long")
    return text.expandtabs(tabsize)


def _sized(method: Callable[..., Any]) -> Callable[..., Any]:
    def call(*args: Any, **kwargs: Any) -> Any:
        return check_size(method(*args, **kwargs))

    return call


_STR_PLAIN = [
    "capitalize",
    "casefold",
    "count",
    "endswith",
    "find",
    "index",
    "isalnum",
    "isalpha",
    "isascii",
    "isdecimal",
    "isdigit",
    "isidentifier",
    "islower",
    "isnumeric",
    "isprintable",
    "isspace",
    "istitle",
    "isupper",
    "lower",
    "lstrip",
    "partition",
    "removeprefix",
    "removesuffix",
    "rfind",
    "rindex",
    "rpartition",
    "rstrip",
    "startswith",
    "strip",
    "swapcase",
    "title",
    "upper",
]

STR_METHODS: dict[str, Callable[..., Any]] = {name: getattr(str, name) for name in _STR_PLAIN}
STR_METHODS.update(
    center=_padded(str.center),
    ljust=_padded(str.ljust),
    rjust=_padded(str.rjust),
    zfill=_padded(str.zfill),
    replace=str_replace,
    join=str_join,
    expandtabs=str_expandtabs,
    split=_sized(str.split),
    rsplit=_sized(str.rsplit),
    splitlines=_sized(str.splitlines),
)

DICT_METHODS: dict[str, Callable[..., Any]] = {
    "get": dict.get,
    "keys": lambda d: list(d.keys()),
    "values": lambda d: list(d.values()),
    "items": lambda d: list(d.items()),
}

SEQUENCE_METHODS: dict[str, Callable[..., Any]] = {"index": list.index, "count": list.count}
TUPLE_METHODS: dict[str, Callable[..., Any]] = {"index": tuple.index, "count": tuple.count}
FLOAT_METHODS: dict[str, Callable[..., Any]] = {"is_integer": float.is_integer}


def _strftime(value: dt.date, fmt: str) -> str:
    if not isinstance(fmt, str) or len(fmt) > 200:
        raise LimitExceeded("strftime() format too long")
    return value.strftime(fmt)


DATE_METHODS: dict[str, Callable[..., Any]] = {
    "isoformat": lambda d, *a: d.isoformat(*a),
    "weekday": dt.date.weekday,
    "isoweekday": dt.date.isoweekday,
    "strftime": _strftime,
}
DATETIME_METHODS: dict[str, Callable[..., Any]] = {
    **DATE_METHODS,
    "timestamp": dt.datetime.timestamp,
    "date": dt.datetime.date,
}
DATE_ATTRIBUTES = frozenset({"year", "month", "day"})
DATETIME_ATTRIBUTES = DATE_ATTRIBUTES | {"hour", "minute", "second", "microsecond"}


def methods_for(value: Any) -> dict[str, Callable[..., Any]] | None:
    """The methods callable on ``value``; ``None`` when it has none."""
    kind = type(value)
    if kind is str or isinstance(value, str):
        return STR_METHODS
    if kind is dict or isinstance(value, dict):
        return DICT_METHODS
    if kind is list or isinstance(value, list):
        return SEQUENCE_METHODS
    if isinstance(value, tuple):
        return TUPLE_METHODS
    if kind is float:
        return FLOAT_METHODS
    if isinstance(value, dt.datetime):
        return DATETIME_METHODS
    if isinstance(value, dt.date):
        return DATE_METHODS
    return None


def attributes_for(value: Any) -> frozenset[str]:
    """Plain data attributes readable on non-dict values (dicts expose their keys)."""
    if isinstance(value, dt.datetime):
        return DATETIME_ATTRIBUTES
    if isinstance(value, dt.date):
        return DATE_ATTRIBUTES
    return frozenset()


ALL_METHOD_NAMES = frozenset(
    {*STR_METHODS, *DICT_METHODS, *SEQUENCE_METHODS, *FLOAT_METHODS, *DATETIME_METHODS}
)

# Attribute names refused wherever they appear, on top of anything starting with '_'.
FORBIDDEN_ATTRIBUTES = frozenset(
    {
        "format",
        "format_map",
        "mro",
        "gi_frame",
        "gi_code",
        "gi_yieldfrom",
        "cr_frame",
        "cr_code",
        "ag_frame",
        "ag_code",
        "f_globals",
        "f_locals",
        "f_builtins",
        "f_back",
        "f_code",
        "tb_frame",
        "tb_next",
        "co_code",
        "func_globals",
        "func_code",
    }
)


def is_forbidden_attribute(name: str) -> bool:
    return name.startswith("_") or name in FORBIDDEN_ATTRIBUTES
