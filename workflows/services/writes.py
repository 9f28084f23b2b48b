"""One SQL statement for everything a step writes: the hot path's data-modifying CTE.

A step that completes a task usually writes an instance row, a few journal entries, one or two
activity-execution records, the step just completed and the next step. Written one model call
each, that is five statements (five round trips, and Django's query compilation five times);
`Statement` joins them into one `WITH ... SELECT` that PostgreSQL runs atomically (a single
statement is its own transaction in autocommit mode).

Values are prepared by the model fields themselves (`Field.get_db_prep_save`, after `pre_save`),
as `bulk_create` does: sealing, masking and any other hook a field has apply unchanged. Rows go
in as one array per column through `UNNEST`, which also works on partitioned tables (a plain
INSERT). Lowest layer of the services: it imports no other service.
"""

from django.db import connection
from django.db.models import Model


def _column_types(fields) -> list[str]:
    return [field.db_type(connection).split("(")[0] for field in fields]


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
        """`INSERT INTO <table> SELECT * FROM UNNEST(<column arrays>)` of `objs` (one model),
        every concrete field but an auto primary key."""
        model = type(objs[0])
        meta = model._meta
        fields = [f for f in meta.concrete_fields
                  if not (f.primary_key and f.get_internal_type() in ("AutoField",
                                                                      "BigAutoField"))]
        columns = [[] for _ in fields]
        for obj in objs:
            for index, field in enumerate(fields):
                columns[index].append(
                    field.get_db_prep_save(field.pre_save(obj, True), connection))
        names = ", ".join(connection.ops.quote_name(f.column) for f in fields)
        arrays = ", ".join(f"(%s)::{db_type}[]" for db_type in _column_types(fields))
        source = f"UNNEST({arrays}) AS r"
        if guard is not None:
            source = f"{guard}, {source}"
        # Table and column names come from the model, values go as parameters.
        sql = f"INSERT INTO {meta.db_table} ({names}) SELECT r.* FROM {source}"  # noqa: S608
        if on_conflict:
            sql += f" {on_conflict}"
        self.add(name, sql, columns)

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
