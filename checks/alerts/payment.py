"""The app's paid period ending: one email per period, 7 days before it ends (or once it has).

app.info is read at least daily (checks.bitrix24.probe): DAYS left, PAYMENT_EXPIRED. The period is
known by its last day (the day of the check + DAYS); the portal row remembers the period warned
about, and a conditional update on it lets exactly one worker write the email.
"""

from datetime import datetime, timedelta
from functools import partial

from django.db import transaction

from checks.alerts.messages import recipients_for
from checks.alerts.portal_messages import render_payment_email
from checks.alerts.queue import queue_email
from checks.models import AuthType, IncidentEvent, Portal

WARN_BEFORE = timedelta(days=7)
# DAYS is counted on the portal's clock, the day of the check on ours: the same period can read a
# day earlier or later from one check to the next. A renewal moves the end by weeks.
SAME_PERIOD = timedelta(days=2)


def warn_payment(portal_id: int, checked_at: datetime) -> list[int]:
    """The warning for the portal's current paid period, when it is due and not sent yet; notification ids."""
    portal = Portal.objects.filter(pk=portal_id).first()
    if portal is None or portal.auth_type != AuthType.OAUTH or portal.app_paid_until is None:
        return []
    paid_until, today = portal.app_paid_until, checked_at.date()
    if paid_until - today > WARN_BEFORE and not portal.app_payment_expired:
        return []
    warned = portal.payment_warned_for
    if warned is not None and abs(paid_until - warned) <= SAME_PERIOD:
        return []  # this period's warning went out
    if portal.is_muted(checked_at):
        return []  # the next app.info, a day later, warns if it is still due
    with transaction.atomic():
        if not Portal.objects.filter(pk=portal.pk, payment_warned_for=warned).update(payment_warned_for=paid_until):
            return []  # another worker claimed this period's warning
        render = partial(render_payment_email, portal, paid_until, today)
        key = f"payment:{portal.pk}:{paid_until.isoformat()}"
        pk = queue_email(key, IncidentEvent.Kind.PAYMENT, render, [], portal, recipients_for(portal))
    return [pk] if pk else []
