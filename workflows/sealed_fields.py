"""Model fields that keep secrets out of the database in clear.

Two kinds of JSON column hold workflow data:

- columns Weft reads back to keep running (engine state, step payloads, bookmark data, an
  instance's output and its HTTP answer, retained event payloads) are `SealedJSONField`: every
  secret value (see `runtime.engine.masking`) is encrypted when written and decrypted when
  read, so the workflow keeps working while the row holds only ciphertext;
- columns that only record or show what happened (activity-execution records, journal data,
  incidents, an instance's input) are `MaskedJSONField` / `MaskedTextField`: secrets are
  replaced by `***` when written, for good.

Names marked secret travel with the document: a top-level `secret_names` list (the engine
state lists a definition's secret inputs and its user activities' secret parameters; a task
step lists its activity's) makes those keys secret within that document.

Encryption is Fernet (AES-128-CBC + HMAC-SHA256) from `cryptography`, with keys derived from
`SECRET_KEY` and then `SECRET_KEY_FALLBACKS`, so rotating `SECRET_KEY` the Django way (old key
moved to the fallbacks) keeps sealed values readable. A value sealed with a key no longer
configured reads as `***`.
"""

import base64
import hashlib
import json
from functools import lru_cache
from typing import Any

import structlog
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.db import models

from runtime.engine.masking import (
    MASK,
    mask_secrets,
    mask_text,
    replace_secrets,
    text_has_credentials,
)

logger = structlog.get_logger(__name__)

SEALED = "$sealed"


@lru_cache(maxsize=4)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    def derive(secret: str) -> Fernet:
        digest = hashlib.sha256(b"weft.sealed-json:" + secret.encode()).digest()
        return Fernet(base64.urlsafe_b64encode(digest))

    return MultiFernet([derive(key) for key in keys])


def _cipher() -> MultiFernet:
    return _fernet((settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", ())))


def _envelope(value: Any) -> dict:
    token = _cipher().encrypt(json.dumps(value, separators=(",", ":")).encode())
    return {SEALED: token.decode()}


def _seal_text(text: str) -> Any:
    return _envelope(text) if text_has_credentials(text) else text


def seal(value: Any) -> Any:
    """A copy of `value` with each secret value replaced by its encrypted envelope."""
    if type(value) is dict and len(value) == 1 and SEALED in value:
        return value
    return replace_secrets(value, _envelope, _seal_text)


def unseal(value: Any, _depth: int = 0) -> Any:
    if isinstance(value, dict):
        if len(value) == 1 and SEALED in value:
            try:
                return json.loads(_cipher().decrypt(value[SEALED].encode()))
            except (InvalidToken, ValueError, TypeError):
                logger.warning("sealed_value_unreadable")
                return MASK
        return {key: unseal(item, _depth + 1) for key, item in value.items()}
    if isinstance(value, list) and _depth < 210:
        return [unseal(item, _depth + 1) for item in value]
    return value


class SealedJSONField(models.JSONField):
    """JSON whose secret values are stored encrypted and read back in clear."""

    def get_prep_value(self, value):
        if value is not None and not isinstance(value, (int, float, bool)):
            value = seal(value)
        return super().get_prep_value(value)

    def from_db_value(self, value, expression, connection):
        if isinstance(value, str) and SEALED not in value:
            return super().from_db_value(value, expression, connection)
        return unseal(super().from_db_value(value, expression, connection))


class MaskedJSONField(models.JSONField):
    """JSON whose secret values are replaced by `***` when stored."""

    def get_prep_value(self, value):
        if value is not None and not isinstance(value, (int, float, bool)):
            value = mask_secrets(value)
        return super().get_prep_value(value)


class MaskedTextField(models.TextField):
    """Text whose URL passwords, secret query parameters and bearer credentials are masked."""

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        return mask_text(value) if isinstance(value, str) else value
