"""A tenant schema copied from the template equals one made by running every migration."""

import re

import pytest
from django.db import connection
from django.test.utils import override_settings
from django_tenants.utils import schema_exists

from tenants.models import Association
from tenants.schemas import TemplateNotCopyable, schema_copy_structure, schema_create_from_template

pytestmark = pytest.mark.django_db

CATALOG_QUERIES = {
    "columns": """
        SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, a.attidentity,
               a.attgenerated, pg_get_expr(d.adbin, d.adrelid),
               row_number() OVER (PARTITION BY c.relname ORDER BY a.attnum)  -- order, not number: migrations drop columns
          FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
          LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
         WHERE n.nspname = %s AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped
    """,
    "constraints": """
        SELECT c.relname, k.conname, k.contype, k.condeferrable, k.condeferred, pg_get_constraintdef(k.oid)
          FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = %s
    """,
    "indexes": """
        SELECT c.relname, pg_get_indexdef(c.oid) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = %s AND c.relkind = 'i'
    """,
    "relations": """
        SELECT c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = %s
    """,
    "identity_sequences": """
        WITH identity_columns AS MATERIALIZED (
            SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS qualified, c.relname, a.attname
              FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = %s AND a.attidentity <> '' AND c.relkind = 'r'
        )
        SELECT i.relname, i.attname, s.seqstart, s.seqincrement, s.seqmax, s.seqmin, s.seqcycle
          FROM identity_columns i
          JOIN pg_sequence s ON s.seqrelid = pg_get_serial_sequence(i.qualified, i.attname)::regclass
    """,
}


def _normalised(text: str) -> str:
    """Definitions without casts and parentheses.

    Replaying a definition makes PostgreSQL parse it again, and a partial index's predicate can come
    back with its casts written differently (ARRAY['a'::varchar, …]::text[] vs ARRAY['a'::varchar::text,
    …]): the same index, another spelling.
    """
    text = re.sub(r"::[a-z ]+(\[\])?", "", text)
    return re.sub(r"[()\s]", "", text)


def _describe(schema: str) -> dict[str, list[tuple]]:
    description = {}
    with connection.cursor() as cursor:
        for name, sql in CATALOG_QUERIES.items():
            cursor.execute(sql, [schema])
            rows = [
                tuple(_normalised(str(value).replace(f"{schema}.", "")) for value in row)
                for row in cursor.fetchall()
            ]
            description[name] = sorted(rows)
        cursor.execute(f'SELECT app, name FROM "{schema}".django_migrations')
        description["migrations"] = sorted(cursor.fetchall())
        cursor.execute(f'SELECT app_label, model FROM "{schema}".django_content_type')
        description["content_types"] = sorted(cursor.fetchall())
        cursor.execute(f'SELECT codename FROM "{schema}".auth_permission')
        description["permissions"] = sorted(cursor.fetchall())
    return description


def test_copied_schema_equals_a_migrated_one():
    connection.set_schema_to_public()
    with override_settings(TENANT_CREATION_FAKES_MIGRATIONS=False):
        Association(schema_name="by_migrate", slug="by_migrate", name="m").save(verbosity=0)

    how = schema_create_from_template("by_copy")

    assert how == "copy"
    copied, migrated = _describe("by_copy"), _describe("by_migrate")
    for part in CATALOG_QUERIES.keys() | {"migrations", "content_types", "permissions"}:
        assert copied[part] == migrated[part], part
    assert len(copied["constraints"]) > 20 and len(copied["migrations"]) > 15


def test_copied_identity_sequences_continue_after_the_copied_rows():
    schema_create_from_template("seqcheck")

    with connection.cursor() as cursor:
        cursor.execute('SELECT MAX(id) FROM "seqcheck".django_migrations')
        (highest,) = cursor.fetchone()
        cursor.execute(
            'INSERT INTO "seqcheck".django_migrations (app, name, applied) VALUES (%s, %s, now()) RETURNING id',
            ["x", "y"],
        )
        (new_id,) = cursor.fetchone()
    assert new_id == highest + 1


def test_a_template_with_objects_the_copy_does_not_know_falls_back_to_the_general_clone():
    with connection.cursor() as cursor:
        cursor.execute('CREATE VIEW "tenant_template".v_probe AS SELECT 1 AS one')

    with pytest.raises(TemplateNotCopyable, match="v_probe"):
        schema_copy_structure("tenant_template", "never_made")
    how = schema_create_from_template("by_clone")

    assert how == "clone"
    assert not schema_exists("never_made")
    with connection.cursor() as cursor:
        cursor.execute('SELECT one FROM "by_clone".v_probe')
        assert cursor.fetchone() == (1,)
