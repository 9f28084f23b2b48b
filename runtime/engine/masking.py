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
from collections.abc import Callable
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


# Cheap first look: only text with one of these can hold a credential the rules mask.
_HINT = re.compile(r"://|=|(?i:bearer|basic|token)\s")


def _might_hold_credentials(text: str) -> bool:
    return len(text) > 5 and _HINT.search(text) is not None


def mask_text(text: str) -> str:
    """`text` with URL passwords, secret query parameters and scheme credentials masked."""
    if not _might_hold_credentials(text):
        return text
    text = _URL_PASSWORD.sub(lambda m: m.group("head") + MASK, text)
    text = _QUERY_PARAM.sub(
        lambda m: m.group("head") + MASK if is_secret_key(m.group("name")) else m.group(0), text)
    return _SCHEME_CREDENTIAL.sub(lambda m: m.group("head") + MASK, text)


def text_has_credentials(text: str) -> bool:
    if not _might_hold_credentials(text):
        return False
    return (_URL_PASSWORD.search(text) is not None
            or _SCHEME_CREDENTIAL.search(text) is not None
            or any(is_secret_key(m.group("name")) for m in _QUERY_PARAM.finditer(text)))


# Objects that name what their "value" is: header objects, SetVariable and SetOutput inputs.
_NAMING_KEYS = ("name", "variable", "output")


def value_name(value: dict) -> Any:
    if "value" not in value:
        return None
    return next((value[key] for key in _NAMING_KEYS if isinstance(value.get(key), str)), None)


def replace_secrets(value: Any, replace: Callable[[Any], Any], replace_text: Callable[[str], Any],
                    extra: frozenset[str] | set[str] | tuple = frozenset()) -> Any:
    """A copy of `value` where `replace(secret)` stands for each secret value (see the module's
    rule) and `replace_text(text)` for each other string that may hold a credential. A
    top-level `secret_names` list adds names for this document and is kept as it is."""
    extra = extra if isinstance(extra, frozenset) else frozenset(extra)
    if type(value) is dict and isinstance(value.get("secret_names"), list | tuple):
        extra = extra | {name for name in value["secret_names"] if isinstance(name, str)}
        out = _walk({k: v for k, v in value.items() if k != "secret_names"}, replace,
                    replace_text, extra, 0)
        out["secret_names"] = value["secret_names"]
        return out
    return _walk(value, replace, replace_text, extra, 0)


def _walk(value, replace, replace_text, extra, depth):
    # Scalars are handled inline (no call per leaf): this runs on every stored document.
    kind = type(value)
    if kind is str:
        return replace_text(value) if _might_hold_credentials(value) else value
    if depth > 200:  # input is refused deeper than this long before
        return value
    if kind is dict:
        name = value_name(value)
        if name is not None and not (name in extra or is_secret_key(name)):
            name = None
        out = {}
        for key, item in value.items():
            item_kind = type(item)
            if item is None or item == "":
                out[key] = item
            elif (type(key) is str and (key in extra or is_secret_key(key))) or (
                    name is not None and key == "value"):
                out[key] = replace(item)
            elif item_kind is str:
                out[key] = replace_text(item) if _might_hold_credentials(item) else item
            elif item_kind is dict or item_kind is list or item_kind is tuple:
                out[key] = _walk(item, replace, replace_text, extra, depth + 1)
            else:
                out[key] = item
        return out
    if kind is list or kind is tuple:
        if (len(value) == 2 and type(value[0]) is str and type(value[1]) is str
                and (value[0] in extra or is_secret_key(value[0]))):
            return [value[0], replace(value[1])]
        return [_walk(item, replace, replace_text, extra, depth + 1)
                if type(item) in _CONTAINERS else item for item in value]
    return value


_CONTAINERS = (str, dict, list, tuple)


def _mask(_value: Any) -> str:
    return MASK


def mask_secrets(value: Any, extra: frozenset[str] | set[str] | tuple = frozenset()) -> Any:
    """A copy of `value` with secrets masked (see the module's rule); `value` is unchanged."""
    return replace_secrets(value, _mask, mask_text, extra)
