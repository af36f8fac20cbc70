"""Thin Celery task for the customer's monthly report (checks.customer.monthly); beat runs it on the 1st.

Redelivery is harmless (acks_late): each portal's report has its unique key.
"""

from datetime import datetime

from celery import shared_task

from checks.customer import monthly

MONTHLY_TASK = "checks.customer.tasks.send_monthly_reports"


@shared_task(name=MONTHLY_TASK, acks_late=True, soft_time_limit=1200, time_limit=1260)
def send_monthly_reports(now: str | None = None) -> int:
    """`now`: an ISO moment to run as of (beat gives none: the current time)."""
    return len(monthly.send_monthly_reports(datetime.fromisoformat(now) if now else None))
