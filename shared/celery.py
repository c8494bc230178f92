"""The Celery app. It must be tenant-aware: a plain Celery() runs every task in the public schema.

tenant-schemas-celery stamps the sending connection's schema into each message and switches the
worker's connection to it before the task runs.
"""

import os

from tenant_schemas_celery.app import CeleryApp

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shared.settings")

app = CeleryApp("xiehui")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
