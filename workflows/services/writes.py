"""One SQL statement for everything a step writes: the hot path's data-modifying CTE.

A step that completes a task usually writes an instance row, a few journal entries, one or two
activity-execution records, the step just completed and the next step. Written one model call
each, that is five statements (five round trips, and Django's query compilation five times);
`Statement` joins them into one `WITH ... SELECT` that PostgreSQL runs atomically (a single
statement is its own transaction in autocommit mode).

Values are prepared by the model fields themselves (`Field.get_db_prep_save`, after `pre_save`),
as `bulk_create` does: sealing, masking and any other hook a field has apply unchanged. The rows
of a table go in as one JSON parameter (`json_populate_recordset`): one `json.dumps` instead of
an array per column, and a plain INSERT, which also works on partitioned tables.

Lowest layer of the services: it imports no other service.
"""

import json
from datetime import date, datetime
from functools import lru_cache
from uuid import UUID

from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.models import Model
from psycopg.types.json import Jsonb


def _json_value(value):
    """What `Field.get_db_prep_save` returned, as JSON: a JSON column's value is nested as it
    is (these models' JSON fields have no encoder of their own), times and ids as text."""
    if isinstance(value, Jsonb):
        return value.obj
    if isinstance(value, datetime | date | UUID):
        return str(value) if isinstance(value, UUID) else value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


@lru_cache(maxsize=64)
def _insert_sql(model, guard: str | None, on_conflict: str) -> tuple[list, str]:
    meta = model._meta
    fields = [f for f in meta.concrete_fields
              if not (f.primary_key and f.get_internal_type() in ("AutoField", "BigAutoField"))]
    for field in fields:
        assert getattr(field, "encoder", None) is None, field  # see _json_value
    quote = connections[DEFAULT_DB_ALIAS].ops.quote_name
    names = ", ".join(quote(f.column) for f in fields)
    source = f"json_populate_recordset(NULL::{meta.db_table}, %s) AS r"
    if guard is not None:
        source = f"{guard}, {source}"
    # Table and column names come from the model, values go as one parameter.
    sql = (f"INSERT INTO {meta.db_table} ({names}) "  # noqa: S608
           f"SELECT {', '.join('r.' + quote(f.column) for f in fields)} FROM {source}")
    if on_conflict:
        sql += f" {on_conflict}"
    return fields, sql


class Statement:
    """A `WITH` statement built part by part. Every part but the first may depend on the
    first one (`guard`): rows are inserted only when the guard's row came back, so a guard
    that matched nothing (an instance changed meanwhile) makes the whole statement a no-op."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.params: list = []

    def add(self, name: str, sql: str, params) -> None:
        self.parts.append(f"{name} AS ({sql})")
        self.params += params

    def insert(self, name: str, objs: list[Model], *, guard: str | None = None,
               on_conflict: str = "") -> None:
        """`INSERT INTO <table> SELECT ... FROM json_populate_recordset(...)` of `objs` (one
        model), every concrete field but an auto primary key: the rows go as one JSON
        document, each value prepared by its field."""
        fields, sql = _insert_sql(type(objs[0]), guard, on_conflict)
        db = connections[DEFAULT_DB_ALIAS]
        rows = [{field.column: field.get_db_prep_save(field.pre_save(obj, True), db)
                 for field in fields} for obj in objs]
        self.add(name, sql, [json.dumps(rows, default=_json_value, separators=(",", ":"))])

    def sql(self, final: str) -> str:
        return "WITH " + ",\n".join(self.parts) + "\n" + final

    def execute(self, final: str, final_params=()) -> list[tuple]:
        with connection.cursor() as cursor:
            cursor.execute(self.sql(final), [*self.params, *final_params])
            return cursor.fetchall()


def row_fields(model, *, exclude: tuple[str, ...] = ()) -> list:
    """The concrete fields of `model` read by `select_list` and `from_row`, in order."""
    return [f for f in model._meta.concrete_fields if f.name not in exclude]


def select_list(fields, alias: str) -> str:
    return ", ".join(f"{alias}.{connection.ops.quote_name(f.column)}" for f in fields)


def from_row(model, fields, values) -> Model:
    """A model instance from the columns of `select_list`, converted as a queryset would
    (`from_db_value`: JSON decoded, sealed values opened); fields left out are deferred."""
    converted = [field.from_db_value(value, None, connection)
                 if hasattr(field, "from_db_value") else value
                 for field, value in zip(fields, values, strict=True)]
    return model.from_db(connection.alias, [f.attname for f in fields], converted)
