"""JSON PostgreSQL cannot store or Python cannot walk: NUL characters (neither `text` nor `jsonb`
accepts U+0000), lone UTF-16 surrogates (not encodable as UTF-8) and nesting deeper than
`MAX_JSON_DEPTH` (every recursive walk after the parser, from validation to the database
driver's encoder, would hit Python's recursion limit). Input carrying one is refused where it
enters (API bodies, paths, queries, hook bodies) with the place it was found, rather than
failing later in a walk or an INSERT."""

import json
import re
from typing import Any

NUL = "\x00"


def nul_message(where: str) -> str:
    return f"Text may not contain NUL (\\u0000) characters; found one at {where}."


# Far deeper than any definition or payload needs (each nested activity adds about three
# levels), far below what recursive walks survive.
MAX_JSON_DEPTH = 128
_SURROGATE = re.compile("[\ud800-\udfff]")


class TooDeep(ValueError):
    pass


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def loads_json(raw: bytes | str) -> Any:
    """`json.loads`, strict: NaN and Infinity (which `jsonb` refuses) and nesting deeper than
    Python can parse are refused as ValueError."""
    try:
        return json.loads(raw, parse_constant=_refuse_constant)
    except RecursionError:
        raise TooDeep(f"JSON nested deeper than {MAX_JSON_DEPTH} levels") from None


def _join(path: str, key: Any) -> str:
    return f"{path}[{key}]" if isinstance(key, int) else (f"{path}.{key}" if path else str(key))


def find_unstorable(value: Any) -> tuple[str, str] | None:
    """`(JSON path, message)` of the first place in `value` PostgreSQL could not store or that
    is nested too deeply; None when all is well. Iterative, so depth itself is harmless."""
    stack: list[tuple[Any, str, int]] = [(value, "", 0)]
    while stack:
        item, path, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            return path or "$", f"JSON nested deeper than {MAX_JSON_DEPTH} levels at {path or '$'}."
        if isinstance(item, str):
            problem = _text_problem(item, path or "$")
            if problem:
                return problem
        elif isinstance(item, dict):
            for key, child in item.items():
                child_path = _join(path, key)
                if isinstance(key, str):
                    problem = _text_problem(key, child_path, what="key")
                    if problem:
                        return problem
                stack.append((child, child_path, depth + 1))
        elif isinstance(item, list):
            stack.extend((child, f"{path}[{i}]", depth + 1) for i, child in enumerate(item))
    return None


def _text_problem(text: str, path: str, what: str = "text") -> tuple[str, str] | None:
    if NUL in text:
        path = path.replace(NUL, "\\u0000")
        return path, nul_message(path)
    if _SURROGATE.search(text):
        path = _SURROGATE.sub("?", path)
        return path, (f"Text may not contain unpaired UTF-16 surrogates (\\ud800-\\udfff); "
                      f"found one in the {what} at {path}.")
    return None
