"""The Django project (settings, urls, Celery app) and the cross-cutting kernel."""

from shared.celery import app as celery_app

__all__ = ["celery_app"]
