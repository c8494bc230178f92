"""Creating a tenant schema from the template schema, then bringing it fully up to date.

django-tenants' own clone path re-installs its 4,600-line clone function on every call and then
*fakes* every migration, which would mark as applied any migration the template has not run yet.
Here the function is installed once per process, and after the clone only the migrations the
template lacked (normally none) are really run. Cloning copies django_migrations with the data.
"""

from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django_tenants.clone import CloneSchema
from django_tenants.utils import schema_context, schema_exists

_clone_function_installed_on: set[int] = set()


def _install_clone_function() -> None:
    # Keyed by the server connection, since a new connection may reach a freshly created database.
    key = id(connection.connection)
    if key not in _clone_function_installed_on:
        CloneSchema()._create_clone_schema_function()
        _clone_function_installed_on.add(key)


def _unapplied_migrations(schema_name: str) -> int:
    with schema_context(schema_name):
        executor = MigrationExecutor(connection)
        return len(executor.migration_plan(executor.loader.graph.leaf_nodes()))


def schema_create_from_template(schema_name: str) -> str:
    """Create `schema_name`, by cloning the template when it exists, else by running every migration.

    Returns "clone" or "migrate". Runs inside the caller's transaction (PostgreSQL DDL is
    transactional), so a failure leaves no schema behind.
    """
    template = settings.TENANT_BASE_SCHEMA
    connection.set_schema_to_public()
    if not schema_exists(template):
        connection.cursor().execute(f'CREATE SCHEMA "{schema_name}"')
        call_command("migrate_schemas", tenant=True, schema_name=schema_name, interactive=False, verbosity=0)
        connection.set_schema_to_public()
        return "migrate"
    _install_clone_function()
    with connection.cursor() as cursor:
        # Every object belongs to the application's own role and no grants are used, so the owner and
        # privilege passes of the clone (a large share of its time) are skipped.
        cursor.execute("SELECT clone_schema(%s, %s, 'DATA', 'NOOWNER', 'NOACL')", [template, schema_name])
    if _unapplied_migrations(schema_name):
        call_command("migrate_schemas", tenant=True, schema_name=schema_name, interactive=False, verbosity=0)
    connection.set_schema_to_public()
    return "clone"
