"""From incident events to notification rows: grouping, recipients, channels, idempotence keys, dispatch.

Events of one portal, one kind and one route from one evaluation become one notification
(five bots removed with their app: one message listing five bots), sent by email and to every
channel of its route. The rows are written in the caller's transaction, so they exist exactly
when their events do; delivery starts after the commit.
"""

import hashlib
import logging
from datetime import datetime, timedelta
from functools import partial

from celery import current_app
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from checks.alerts.channel_delivery import deliver_channel, pending_for, queue_channel_deliveries
from checks.alerts.channels import route_of, targets_for
from checks.alerts.delivery import deliver
from checks.alerts.messages import AlertItem, Render, render_email, render_in
from checks.models import IncidentEvent, Notification, Portal

log = logging.getLogger(__name__)

KEY_MAX = 200  # Notification.key max_length
# The alert tasks' names (checks.alerts.tasks also runs messages queued under their earlier names).
DELIVER_TASK = "checks.alerts.tasks.deliver_notification"
DELIVER_CHANNEL_TASK = "checks.alerts.tasks.deliver_channel"
REMINDERS_TASK = "checks.alerts.tasks.send_reminders"
RETRY_TASK = "checks.alerts.tasks.retry_pending"
ANNOUNCE_TASK = "checks.alerts.tasks.announce_wave"
# A new row is sent by its own task; the retry sweep leaves it alone for this long.
SWEEP_GRACE = timedelta(minutes=2)


def notification_key(kind: str, parts: list[str]) -> str:
    """`<kind>:<part>+<part>...`, e.g. `opened:12+13`; hashed when too long for the column."""
    key = f"{kind}:{'+'.join(parts)}"
    if len(key) <= KEY_MAX:
        return key
    return f"{kind}:sha256:{hashlib.sha256(key.encode()).hexdigest()}"


def group_by_route(portal: Portal, kind: str, items: list[AlertItem]) -> list[tuple[str, list[AlertItem]]]:
    """Items split by the portal's route of their status (a recovery goes by the worst status seen)."""
    groups: dict[str, list[AlertItem]] = {}
    for item in items:
        status = item.incident.status if kind == IncidentEvent.Kind.RESOLVED else item.incident.last_status
        groups.setdefault(route_of(portal, status), []).append(item)
    return list(groups.items())


def queue_notification(
    portal: Portal, kind: str, items: list[AlertItem], key_parts: list[str], route: str = ""
) -> int | None:
    """Write the pending rows for one alert about `items` (email and channels); None when it exists."""
    if not items:
        return None
    targets = targets_for(portal, route)
    key = notification_key(kind, key_parts)
    events = [item.event for item in items]
    render = partial(render_email, kind, portal, items)
    return queue_email(key, kind, render, events, portal, targets.emails, route=route, channels=targets.channels)


def queue_email(
    key: str,
    kind: str,
    render: Render,
    events: list[IncidentEvent],
    portal: Portal | None,
    recipients: list[str],
    *,
    route: str = "",
    channels: list[str] | tuple = (),
    now: datetime | None = None,
) -> int | None:
    """Write the pending row for one email, and its channels' deliveries; None when the alert of
    this key already exists.

    `render()` is called under the instance's language (BOTWATCH_LANGUAGE) for the email, and
    under each channel's for its delivery. `portal` None: an email about several portals (a fleet
    wave, the credential digest), sent to `recipients`.
    """
    email = render_in(settings.BOTWATCH_LANGUAGE, render)
    try:
        with transaction.atomic():
            notification = Notification.objects.create(
                key=key,
                portal=portal,
                kind=kind,
                route=route,
                recipients=recipients,
                subject=email.subject,
                text_body=email.text,
                html_body=email.html,
                chat_title=email.chat_title,
                chat_body=email.chat_body,
                next_attempt_at=(now or timezone.now()) + SWEEP_GRACE,
            )
            notification.events.set(events)
            queue_channel_deliveries(notification, list(channels), render, {settings.BOTWATCH_LANGUAGE: email})
    except IntegrityError:
        # Same key: this event's alert is already queued (a redelivered task, a racing worker).
        log.info("notification %s already exists", key)
        return None
    return notification.pk


def dispatch(notification_ids: list[int], *, inline: bool) -> None:
    """Deliver now (the `verify` command) or enqueue delivery once the caller's transaction commits.

    Email and each channel are delivered by tasks of their own: a slow chat never holds up the email.
    """
    if not notification_ids:
        return
    if inline:
        for pk in notification_ids:
            deliver(pk)
        for pk in pending_for(notification_ids):
            deliver_channel(pk)
        return
    transaction.on_commit(lambda: _enqueue_all(list(notification_ids)))


def _enqueue_all(notification_ids: list[int]) -> None:
    for pk in notification_ids:
        enqueue_delivery(pk)
    for pk in pending_for(notification_ids):
        enqueue_channel_delivery(pk)


def enqueue_delivery(notification_id: int) -> None:
    _enqueue(DELIVER_TASK, notification_id, "notification")


def enqueue_channel_delivery(delivery_id: int) -> None:
    _enqueue(DELIVER_CHANNEL_TASK, delivery_id, "channel delivery")


def _enqueue(task: str, pk: int, what: str) -> None:
    try:
        # By name: the task module imports this one (see checks.engine.dispatch).
        current_app.signature(task).delay(pk)
    except Exception as exc:  # kombu raises several types when the broker is down
        # The row stays pending: the retry sweep (checks.alerts.tasks.retry_pending) sends it.
        log.warning("could not enqueue %s %s (%s); the retry sweep will send it", what, pk, exc)
