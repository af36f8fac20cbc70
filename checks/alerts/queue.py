"""From incident events to notification rows: grouping, recipients, idempotence keys, dispatch.

Events of one portal and one kind from one evaluation become one email (five bots removed
with their app: one message listing five bots). The row is written in the caller's
transaction, so it exists exactly when its events do; delivery starts after the commit.
"""

import hashlib
import logging
from datetime import timedelta

from celery import current_app
from django.db import IntegrityError, transaction
from django.utils import timezone

from checks.alerts.delivery import deliver
from checks.alerts.messages import AlertItem, RenderedEmail, recipients_for, render_email
from checks.models import IncidentEvent, Notification, Portal

log = logging.getLogger(__name__)

KEY_MAX = 200  # Notification.key max_length
# Wire names of the alert tasks, kept from earlier releases so that queued messages survive
# an upgrade; checks.alerts.tasks registers the tasks under them.
DELIVER_TASK = "checks.alert_tasks.deliver_notification"
REMINDERS_TASK = "checks.alert_tasks.send_reminders"
RETRY_TASK = "checks.alert_tasks.retry_pending"
ANNOUNCE_TASK = "checks.alerts.announce_wave"
# A new row is sent by its own task; the retry sweep leaves it alone for this long.
SWEEP_GRACE = timedelta(minutes=2)


def notification_key(kind: str, parts: list[str]) -> str:
    """`<kind>:<part>+<part>...`, e.g. `opened:12+13`; hashed when too long for the column."""
    key = f"{kind}:{'+'.join(parts)}"
    if len(key) <= KEY_MAX:
        return key
    return f"{kind}:sha256:{hashlib.sha256(key.encode()).hexdigest()}"


def queue_notification(portal: Portal, kind: str, items: list[AlertItem], key_parts: list[str]) -> int | None:
    """Write the pending row for one email about `items`; None when that email already exists."""
    if not items:
        return None
    email = render_email(kind, portal, items)
    key = notification_key(kind, key_parts)
    return queue_email(key, kind, email, [item.event for item in items], portal, recipients_for(portal))


def queue_email(
    key: str,
    kind: str,
    email: RenderedEmail,
    events: list[IncidentEvent],
    portal: Portal | None,
    recipients: list[str],
) -> int | None:
    """Write the pending row for one rendered email; None when the email of this key already exists.

    `portal` None: an email about several portals (a fleet wave), sent to `recipients`.
    """
    try:
        with transaction.atomic():
            notification = Notification.objects.create(
                key=key,
                portal=portal,
                kind=kind,
                recipients=recipients,
                subject=email.subject,
                text_body=email.text,
                html_body=email.html,
                next_attempt_at=timezone.now() + SWEEP_GRACE,
            )
            notification.events.set(events)
    except IntegrityError:
        # Same key: this event's email is already queued (a redelivered task, a racing worker).
        log.info("notification %s already exists", key)
        return None
    return notification.pk


def dispatch(notification_ids: list[int], *, inline: bool) -> None:
    """Deliver now (the `verify` command) or enqueue delivery once the caller's transaction commits."""
    if inline:
        for pk in notification_ids:
            deliver(pk)
        return
    for pk in notification_ids:
        transaction.on_commit(lambda pk=pk: enqueue_delivery(pk))


def enqueue_delivery(notification_id: int) -> None:
    try:
        # By name: the task module imports this one (see checks.engine.dispatch).
        current_app.signature(DELIVER_TASK).delay(notification_id)
    except Exception as exc:  # kombu raises several types when the broker is down
        # The row stays pending: the retry sweep (checks.alerts.tasks.retry_pending) sends it.
        log.warning("could not enqueue notification %s (%s); the retry sweep will send it", notification_id, exc)
