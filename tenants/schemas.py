"""Creating a tenant schema from the template schema, then bringing it fully up to date.

The template schema (`settings.TENANT_BASE_SCHEMA`) is a tenant row without a domain, so
`migrate_schemas` keeps it migrated with everyone else. A new schema is a copy of it:

- `schema_copy_structure` copies what Django's migrations create in a tenant schema -- tables with
  their columns, defaults and identity columns, the rows (migration records, content types,
  permissions), constraints and indexes under their own names -- in a few catalog reads and one
  batch of DDL. It refuses templates holding anything else (views, triggers, functions, plain
  sequences), and then the general PL/pgSQL clone of django-tenants is used instead.
- afterwards only the migrations the template lacked (normally none) are really run. django-tenants'
  own clone path fakes every migration instead, which would mark unrun migrations as applied.

`tests/integration/test_schema_copy.py` proves a copied schema equals a migrated one in the catalog.
"""

from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django_tenants.clone import CloneSchema
from django_tenants.utils import schema_context, schema_exists


class TemplateNotCopyable(Exception):
    """The template holds objects `schema_copy_structure` does not copy."""


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _rows(sql: str, params: list) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _check_copyable(template: str) -> None:
    unsupported = _rows(
        """
        SELECT 'relation ' || c.relname || ' of kind ' || c.relkind::text FROM pg_class c
          JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = %s AND c.relkind NOT IN ('r', 'i', 'S')
        UNION ALL
        SELECT 'sequence ' || c.relname || ' not owned by an identity column' FROM pg_class c
          JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = %s AND c.relkind = 'S'
           AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'i')
        UNION ALL
        SELECT 'trigger ' || t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
          JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND NOT t.tgisinternal
        UNION ALL
        SELECT 'function ' || p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
         WHERE n.nspname = %s
        UNION ALL
        SELECT 'table comment on ' || c.relname FROM pg_description d JOIN pg_class c ON c.oid = d.objoid
          JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND d.objsubid = 0
        """,
        [template] * 5,
    )
    if unsupported:
        raise TemplateNotCopyable(", ".join(row[0] for row in unsupported))


def _definitions(
    template: str,
) -> tuple[list[str], list[tuple[str, str, str]], list[str], list[tuple[str, str]]]:
    """Tables; constraints (table, name, definition); index definitions; identity columns (table, column).

    Definitions are read with the search_path set to the template alone (transaction-local), so
    the template's own names come out unqualified and can be replayed in the new schema.
    """
    (previous,) = _rows("SELECT current_setting('search_path')", [])[0]
    _rows("SELECT set_config('search_path', %s, true)", [_quote(template)])
    try:
        tables = [
            row[0]
            for row in _rows(
                "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = %s AND c.relkind = 'r' ORDER BY c.relname",
                [template],
            )
        ]
        # Primary keys and unique constraints first (foreign keys need them), foreign keys last.
        constraints = _rows(
            """
            SELECT c.relname, k.conname, pg_get_constraintdef(k.oid) FROM pg_constraint k
              JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = %s AND k.contype IN ('p', 'u', 'c', 'x', 'f')
             ORDER BY CASE k.contype WHEN 'p' THEN 0 WHEN 'u' THEN 1 WHEN 'x' THEN 2 WHEN 'c' THEN 3 ELSE 4 END,
                      c.relname, k.conname
            """,
            [template],
        )
        # pg_get_indexdef always qualifies the table with its schema, visible or not: strip it.
        indexes = [
            row[0].replace(f" ON {row[1]}.", " ON ", 1).replace(f" ON ONLY {row[1]}.", " ON ONLY ", 1)
            for row in _rows(
                """
                SELECT pg_get_indexdef(i.indexrelid), quote_ident(n.nspname) FROM pg_index i
                  JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
                 WHERE n.nspname = %s
                   AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid
                                   AND k.contype IN ('p', 'u', 'x'))
                 ORDER BY c.relname
                """,
                [template],
            )
        ]
        identities = _rows(
            """
            SELECT c.relname, a.attname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
              JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = %s AND c.relkind = 'r' AND a.attidentity <> '' AND NOT a.attisdropped
            """,
            [template],
        )
    finally:
        _rows("SELECT set_config('search_path', %s, true)", [previous])
    return tables, constraints, indexes, identities


def schema_copy_structure(template: str, target: str) -> None:
    """Copy the template's tables, rows, constraints and indexes into the new schema `target`."""
    _check_copyable(template)
    tables, constraints, indexes, identities = _definitions(template)
    source, destination = _quote(template), _quote(target)
    statements = [f"CREATE SCHEMA {destination}"]
    for table in tables:
        name = _quote(table)
        statements.append(
            f"CREATE TABLE {destination}.{name} (LIKE {source}.{name} INCLUDING DEFAULTS INCLUDING IDENTITY "
            "INCLUDING GENERATED INCLUDING STORAGE INCLUDING COMMENTS INCLUDING COMPRESSION)"
        )
        statements.append(
            f"INSERT INTO {destination}.{name} OVERRIDING SYSTEM VALUE SELECT * FROM {source}.{name}"
        )
    for table, column in identities:
        qualified = f"{destination}.{_quote(table)}"
        statements.append(
            f"SELECT setval(pg_get_serial_sequence('{qualified}', '{column}'), "
            f"COALESCE(MAX({_quote(column)}), 0) + 1, false) FROM {qualified}"
        )
    # Constraint and index definitions name the template's tables unqualified: they run with the
    # search_path on the new schema.
    statements.append(f"SELECT set_config('search_path', '{destination}', true)")
    statements += [
        f"ALTER TABLE {_quote(table)} ADD CONSTRAINT {_quote(name)} {definition}"
        for table, name, definition in constraints
    ]
    statements += indexes
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)
    # Hand the search_path back to django-tenants, which re-issues it on the next cursor.
    connection.set_schema_to_public()


_clone_function_installed_on: set[int] = set()


def _clone_with_pg_clone_schema(template: str, target: str) -> None:
    key = id(connection.connection)  # installed once per server connection
    if key not in _clone_function_installed_on:
        CloneSchema()._create_clone_schema_function()
        _clone_function_installed_on.add(key)
    with connection.cursor() as cursor:
        cursor.execute("SELECT clone_schema(%s, %s, 'DATA', 'NOOWNER', 'NOACL')", [template, target])


def _unapplied_migrations(schema_name: str) -> int:
    with schema_context(schema_name):
        executor = MigrationExecutor(connection)
        return len(executor.migration_plan(executor.loader.graph.leaf_nodes()))


def schema_create_from_template(schema_name: str) -> str:
    """Create `schema_name` from the template ("copy" or "clone"), or by running every migration
    when there is no template yet ("migrate"). Runs inside the caller's transaction (PostgreSQL DDL
    is transactional), so a failure leaves no schema behind.
    """
    template = settings.TENANT_BASE_SCHEMA
    connection.set_schema_to_public()
    if not schema_exists(template):
        connection.cursor().execute(f"CREATE SCHEMA {_quote(schema_name)}")
        call_command("migrate_schemas", tenant=True, schema_name=schema_name, interactive=False, verbosity=0)
        connection.set_schema_to_public()
        return "migrate"
    try:
        schema_copy_structure(template, schema_name)
        how = "copy"
    except TemplateNotCopyable:
        _clone_with_pg_clone_schema(template, schema_name)
        how = "clone"
    if _unapplied_migrations(schema_name):
        call_command("migrate_schemas", tenant=True, schema_name=schema_name, interactive=False, verbosity=0)
    connection.set_schema_to_public()
    return how
