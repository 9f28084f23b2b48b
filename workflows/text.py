"""Text PostgreSQL cannot store: NUL characters. Neither `text` nor `jsonb` accepts U+0000, so
input carrying one is refused where it enters (API bodies, paths, queries, hook bodies) with
the place it was found, rather than failing later in an INSERT."""

from typing import Any

NUL = "\x00"


def find_nul(value: Any, path: str = "") -> str | None:
    """The JSON path of the first string (key or value) holding a NUL character, else None.
    The root itself is reported as `$`."""
    if isinstance(value, str):
        return (path or "$") if NUL in value else None
    if isinstance(value, dict):
        for key, child in value.items():
            child_path = f"{path}.{key}" if path else str(key)
            if isinstance(key, str) and NUL in key:
                return child_path.replace(NUL, "\\u0000")
            found = find_nul(child, child_path)
            if found:
                return found
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found = find_nul(child, f"{path}[{index}]")
            if found:
                return found
    return None


def nul_message(where: str) -> str:
    return f"Text may not contain NUL (\\u0000) characters; found one at {where}."
