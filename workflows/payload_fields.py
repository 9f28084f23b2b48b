"""JSON columns whose large values are kept out of the row (`workflows.payloads`).

The seam is the field: `pre_save` notes which row a value is written for, `get_db_prep_value`
serialises it once (sealed or masked first, as the parent field does) and, above the threshold,
replaces its large parts by references; `from_db_value` puts them back. A value written without
`pre_save` (a `QuerySet.update`) is stored inline, as the parent field would, unless the writer
names its row first: `payloads.note_owner(value, instance)` then `.update(state=value)`.
"""

from django.db.backends.postgresql.psycopg_any import Jsonb
from django.db.models import JSONField

from workflows import payloads
from workflows.sealed_fields import MaskedJSONField, SealedJSONField


class _Serialised:
    """psycopg's `dumps` for a value serialised already: returns that text."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __call__(self, _obj) -> str:
        return self.text


class _Offloading(JSONField):
    def pre_save(self, model_instance, add):
        value = super().pre_save(model_instance, add)
        if type(value) in (dict, list, str):
            payloads.note_owner(value, model_instance)
        return value

    def get_db_prep_value(self, value, connection, prepared=False):
        row = None if prepared else payloads.take_owner(value)
        # PostgreSQL only (the payload tables are written in its SQL): SQLite, `make run`'s
        # database without DATABASE_URL, keeps every value inline.
        if row is None or connection.vendor != "postgresql":
            return super().get_db_prep_value(value, connection, prepared)
        stored = payloads.offload(self.get_prep_value(value), row, connection)
        if stored is None:
            return super().get_db_prep_value(value, connection, prepared)
        # Serialised once, here: psycopg sends that text; `.obj` is the stored value (with
        # its references), for a writer that builds its own JSON from it.
        obj, text = stored
        return Jsonb(obj, dumps=_Serialised(text))

    def from_db_value(self, value, expression, connection):
        marked = isinstance(value, str) and payloads.MARK in value
        value = super().from_db_value(value, expression, connection)
        return payloads.resolve(value, connection) if marked else value


class OffloadedSealedJSONField(_Offloading, SealedJSONField):
    """`SealedJSONField` whose large values are stored apart (sealed secrets stay sealed)."""


class OffloadedMaskedJSONField(_Offloading, MaskedJSONField):
    """`MaskedJSONField` whose large values are stored apart."""
