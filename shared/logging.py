"""JSON log records carry the schema of the tenant they were written for."""

import logging

from django.db import connection


class TenantFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.tenant = getattr(connection, "schema_name", None)
        return True
