"""The Celery app of BotWatch; Celery reads Django settings with the CELERY_ prefix."""

import logging.config
import os

from celery import Celery
from celery.schedules import crontab
from celery.signals import setup_logging
from django.conf import settings

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")

app = Celery("botwatch")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@setup_logging.connect
def log_like_the_web_process(**kwargs) -> None:
    """Workers and beat log through settings.LOGGING (masked, one entry a line: dashboard.logformat);
    without a receiver here Celery would replace the root handlers with its own."""
    logging.config.dictConfig(settings.LOGGING)


# The beat schedule lives here, next to the app. Exactly one beat process runs: it only
# enqueues small "look for due work" ticks; the claiming itself is safe against any
# number of beats or workers (checks.engine.claims).
app.conf.beat_schedule = {
    # Claims due portals and enqueues one verification task per claimed portal.
    "dispatch-due-portals": {"task": "checks.engine.tasks.dispatch_due", "schedule": 5.0},
    # Hourly: folds complete days into aggregates and drops raw history past its window
    # (checks.history.retention; idempotent, so a missed hour is caught up by the next).
    "prune-history": {"task": "checks.engine.tasks.prune_history", "schedule": crontab(minute=17)},
    # Reminders for open, unacknowledged incidents (BOTWATCH_REMINDER_HOURS).
    "send-reminders": {"task": "checks.alerts.tasks.send_reminders", "schedule": 300.0},
    # Re-sends notifications whose delivery failed (an SMTP outage delays, never drops).
    "retry-notifications": {"task": "checks.alerts.tasks.retry_pending", "schedule": 60.0},
    # Credential warnings (long bot tokens, old refresh tokens): recomputed hourly ...
    "refresh-credential-warnings": {"task": "checks.alerts.tasks.refresh_credential_warnings", "schedule": 3600.0},
    # ... and sent in a weekly digest, Monday morning (one per recipient list and ISO week).
    "credential-digest": {
        "task": "checks.alerts.tasks.send_credential_digest",
        "schedule": crontab(day_of_week=1, hour=8, minute=0),
    },
    # Last month's report to each portal's customer contacts, on the 1st (once per portal and
    # month whatever runs it twice: checks.customer.monthly).
    "monthly-reports": {
        "task": "checks.customer.tasks.send_monthly_reports",
        "schedule": crontab(day_of_month=1, hour=6, minute=0),
    },
}
