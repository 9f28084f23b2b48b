"""Which keys and text hold secrets, and masking them in a copy of a JSON value.

One rule for every place Weft stores or shows data (records, journal, API, admin, logs):

- a key is secret when one of its words is a well-known secret word (`password`, `pwd`,
  `token`, `secret`, `auth`, `authorization`, `bearer`, `signature`, `dsn`, `cookie`,
  `credentials`, ...) or two adjacent words make one (`api_key`, `X-Api-Key`, `private_key`,
  `session_id`), in any case and spelling (`apiKey`, `X-Hub-Signature-256`, `csrftoken`);
- a `[name, value]` pair or a `{"name": ..., "value": ...}` object (how header lists are
  written) whose name is secret has its value masked;
- in text, the password of a URL (`scheme://user:password@host`), secret query parameters
  (`?token=...`) and `Bearer`/`Basic` credentials are masked;
- names marked secret (a definition's secret inputs, a user activity's secret parameters) are
  passed as `extra`, or listed by the document itself in a top-level `secret_names` list, and
  masked like well-known ones.

Pure Python: the engine, the Django app and the log pipeline share it.
"""

from __future__ import annotations

import re
from functools import lru_cache
from itertools import pairwise
from typing import Any

MASK = "***"

_SECRET_WORDS = frozenset({
    "auth", "authorization", "authentication", "bearer", "cookie", "cookies", "credential",
    "credentials", "dsn", "otp", "passcode", "passphrase", "passwd", "password", "pwd", "secret",
    "signature", "token", "apikey", "accesskey", "privatekey", "sessionid", "setcookie",
    "xapikey", "clientsecret", "refreshtoken", "accesstoken",
})
# A key written as one word that ends like a secret (`csrftoken`, `dbpassword`, `oauth`).
_SECRET_ENDINGS = ("password", "passwd", "token", "secret", "signature", "apikey", "auth")
_WORDS = re.compile(r"[a-z0-9]+")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")

_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]*:)[^/\s@]+(?=@)")
_QUERY_PARAM = re.compile(r"(?P<head>[?&;](?P<name>[A-Za-z0-9_.\-]+)=)(?P<value>[^&#;\s]+)")
_SCHEME_CREDENTIAL = re.compile(r"(?i)\b(?P<head>(?:bearer|basic|token)\s+)[A-Za-z0-9._~+/=-]{6,}")


@lru_cache(maxsize=4096)
def is_secret_key(name: str) -> bool:
    words = _WORDS.findall(_CAMEL.sub("_", name).lower())
    if not words:
        return False
    if any(word in _SECRET_WORDS for word in words):
        return True
    if any(first + second in _SECRET_WORDS for first, second in pairwise(words)):
        return True
    return "".join(words).endswith(_SECRET_ENDINGS)


def _might_hold_credentials(text: str) -> bool:
    return "://" in text or "=" in text or " " in text


def mask_text(text: str) -> str:
    """`text` with URL passwords, secret query parameters and scheme credentials masked."""
    if not _might_hold_credentials(text):
        return text
    text = _URL_PASSWORD.sub(lambda m: m.group("head") + MASK, text)
    text = _QUERY_PARAM.sub(
        lambda m: m.group("head") + MASK if is_secret_key(m.group("name")) else m.group(0), text)
    return _SCHEME_CREDENTIAL.sub(lambda m: m.group("head") + MASK, text)


def text_has_credentials(text: str) -> bool:
    return mask_text(text) != text


# Objects that name what their "value" is: header objects, SetVariable and SetOutput inputs.
_NAMING_KEYS = ("name", "variable", "output")


def value_name(value: dict) -> Any:
    if "value" not in value:
        return None
    return next((value[key] for key in _NAMING_KEYS if isinstance(value.get(key), str)), None)


def _secret(key: Any, extra: frozenset[str]) -> bool:
    return isinstance(key, str) and (key in extra or is_secret_key(key))


def mask_secrets(value: Any, extra: frozenset[str] | set[str] | tuple = frozenset(),
                 *, _depth: int = 0) -> Any:
    """A copy of `value` with secrets masked (see the module's rule); `value` is unchanged."""
    extra = extra if isinstance(extra, frozenset) else frozenset(extra)
    if _depth == 0 and isinstance(value, dict) and isinstance(value.get("secret_names"),
                                                              list | tuple):
        # A document that lists its own secret names (engine state, task payloads).
        extra = extra | {name for name in value["secret_names"] if isinstance(name, str)}
    if isinstance(value, str):
        return mask_text(value)
    if _depth > 200:  # input is refused deeper than this long before
        return value
    if isinstance(value, dict):
        name = value_name(value)
        out = {}
        for key, item in value.items():
            if key == "secret_names" and _depth == 0:
                out[key] = item  # the list of names, not a secret itself
            elif item is not None and item != "" and (
                    _secret(key, extra) or (key == "value" and _secret(name, extra))):
                out[key] = MASK
            else:
                out[key] = mask_secrets(item, extra, _depth=_depth + 1)
        return out
    if isinstance(value, list | tuple):
        if len(value) == 2 and _secret(value[0], extra) and isinstance(value[1], str):
            return [value[0], MASK]
        return [mask_secrets(item, extra, _depth=_depth + 1) for item in value]
    return value
