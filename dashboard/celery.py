"""The Celery app of BotWatch; Celery reads Django settings with the CELERY_ prefix."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")

app = Celery("botwatch")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# The beat schedule lives here, next to the app. Exactly one beat process runs: it only
# enqueues small "look for due work" ticks; the claiming itself is safe against any
# number of beats or workers (checks/services.py).
app.conf.beat_schedule = {}
