"""The Django project and the web UI: settings, the Celery app, URLs, views, forms, templates' tags.

It has no models; it imports checks (the domain) and never the simulator.
"""

from dashboard.celery import app as celery_app

__all__ = ("celery_app",)
