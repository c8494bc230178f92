"""Database helpers for bulk writes that Django's ORM makes slow.

`bulk_create` sends one INSERT with (rows × columns) placeholders; psycopg parses such a statement in
Python on every call (it caches only statements with at most 50 parameters), which dominated a
10,000-person roster import. COPY streams the rows instead.
"""

from collections.abc import Sequence

from django.db import connection, models

PLAIN_TYPES = frozenset(
    {
        "CharField",
        "EmailField",
        "SlugField",
        "TextField",
        "BooleanField",
        "IntegerField",
        "BigIntegerField",
        "PositiveIntegerField",
        "SmallIntegerField",
        "BigAutoField",
        "AutoField",
        "ForeignKey",
        "DateField",
        "DateTimeField",
    }
)


def bulk_insert_copy(
    model: type[models.Model], objects: Sequence[models.Model], *, fields: Sequence[str]
) -> None:
    """Insert `objects` with COPY, giving each its primary key first (from the table's own sequence).

    Only the listed fields are written (the rest take their database defaults, so list every field
    without one). Runs in the caller's transaction and the current tenant schema (search_path).
    """
    if not objects:
        return
    meta = model._meta
    table = connection.ops.quote_name(meta.db_table)
    primary_key = meta.pk
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
            [meta.db_table, primary_key.column, len(objects)],
        )
        for obj, (value,) in zip(objects, cursor.fetchall(), strict=True):
            setattr(obj, primary_key.attname, value)
        columns = [primary_key, *(meta.get_field(name) for name in fields)]
        names = ", ".join(connection.ops.quote_name(field.column) for field in columns)
        # Values psycopg adapts as they are skip Django's per-value preparation (most of the cost).
        attributes = [field.attname for field in columns]
        prepared = [None if field.get_internal_type() in PLAIN_TYPES else field for field in columns]
        with cursor.cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
            for obj in objects:
                row = [getattr(obj, attribute) for attribute in attributes]
                for index, field in enumerate(prepared):
                    if field is not None:
                        row[index] = field.get_db_prep_save(row[index], connection)
                copy.write_row(row)
