"""Delivering notifications to channels: a row per notification and channel, claimed, sent, recorded.

The same protocol as email (checks.alerts.delivery): the row is written with its notification;
sending claims it with a conditional update that takes a lease, sends, then records `sent` or
the error, so of two workers, a redelivered task and the retry sweep, one sends. Transient
failures are retried with the email's growing delays; a chat message a day late is noise, so
after GIVE_UP a delivery still failing is marked failed (the email is retried for as long as
it takes). Logs and errors name the channel by its label (scheme and host), never its URL.

Each row carries its message in its channel's language (Channel.language; a URL without a named
channel yet speaks BOTWATCH_LANGUAGE): the alert is rendered once per language among its channels.
"""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import F, Q
from django.utils import timezone

from checks.alerts.channel_urls import fingerprint, label
from checks.alerts.delivery import lease_seconds, retry_delay
from checks.alerts.messages import Render, RenderedEmail, render_in
from checks.alerts.notifiers import ChatMessage, NotifierError, send_to_channel
from checks.models import Channel, ChannelDelivery, Notification

log = logging.getLogger(__name__)

GIVE_UP = timedelta(hours=24)
State = ChannelDelivery.State


def queue_channel_deliveries(
    notification: Notification, urls: list[str], render: Render, rendered: dict[str, RenderedEmail] | None = None
) -> list[int]:
    """A pending row per channel (once per fingerprint) with `render()`'s chat text in the channel's
    language, in the caller's transaction; `rendered`: what the caller rendered already, by language."""
    rows, seen, rendered = [], set(), dict(rendered or {})
    named = {
        key: (pk, language)
        for key, pk, language in Channel.objects.filter(fingerprint__in=[fingerprint(u) for u in urls]).values_list(
            "fingerprint", "pk", "language"
        )
    }
    for url in urls:
        key = fingerprint(url)
        if key in seen:
            continue
        seen.add(key)
        channel_id, language = named.get(key, (None, settings.BOTWATCH_LANGUAGE))
        if language not in rendered:
            rendered[language] = render_in(language, render)
        rows.append(
            ChannelDelivery(
                notification=notification,
                channel_id=channel_id,
                url=url,
                fingerprint=key,
                label=label(url),
                language=language,
                title=rendered[language].chat_title or rendered[language].subject,
                body=rendered[language].chat_body or rendered[language].text,
                created_at=notification.created_at,
                next_attempt_at=notification.next_attempt_at,
            )
        )
    return [row.pk for row in ChannelDelivery.objects.bulk_create(rows)]


def chat_message(row: ChannelDelivery) -> ChatMessage:
    """What a channel gets: its row's text, or, for rows written before that, the notification's."""
    notification = row.notification
    title = row.title or notification.chat_title or notification.subject
    body = row.body or notification.chat_body or notification.text_body
    return ChatMessage(title=title, body=body, kind=notification.kind)


def claim(delivery_id: int, now: datetime) -> bool:
    """Take the row for one attempt; False when it is sent, failed, or another worker holds it."""
    changed = (
        ChannelDelivery.objects.filter(pk=delivery_id, state=State.PENDING)
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .update(claimed_until=now + timedelta(seconds=lease_seconds()), attempts=F("attempts") + 1, last_attempt_at=now)
    )
    return changed == 1


def deliver_channel(delivery_id: int, *, now: datetime | None = None) -> str:
    """One attempt. Returns the row's state after it, or "skipped" when not ours to send."""
    now = now or timezone.now()
    if not claim(delivery_id, now):
        return "skipped"
    row = ChannelDelivery.objects.select_related("notification").get(pk=delivery_id)
    rows = ChannelDelivery.objects.filter(pk=delivery_id)
    error = attempt(row.url, chat_message(row))
    if error is None:
        rows.update(state=State.SENT, sent_at=timezone.now(), error="", reason="", claimed_until=None)
        return State.SENT
    if error.permanent or timezone.now() - row.created_at >= GIVE_UP:
        message = error.message if error.permanent else f"gave up after {_hours(GIVE_UP)} h: {error.message}"
        log.error("channel delivery %s to %s failed for good: %s", row.notification.key, row.label, message)
        rows.update(state=State.FAILED, error=message, reason=error.reason, claimed_until=None)
        return State.FAILED
    delay = retry_delay(row.attempts)
    log.warning(
        "channel delivery %s to %s: %s; next attempt in %s s", row.notification.key, row.label, error.message, delay
    )
    rows.update(
        error=error.message,
        reason=error.reason,
        claimed_until=None,
        next_attempt_at=timezone.now() + timedelta(seconds=delay),
    )
    return State.PENDING


def _hours(delta: timedelta) -> int:
    return int(delta.total_seconds() // 3600)


def attempt(url: str, message: ChatMessage) -> NotifierError | None:
    """Send once; the error, if any (already scrubbed of the URL's secrets)."""
    try:
        send_to_channel(url, message)
    except NotifierError as exc:
        return exc
    return None


def pending_for(notification_ids: list[int]) -> list[int]:
    """The pending channel rows of these notifications (what their dispatch sends)."""
    rows = ChannelDelivery.objects.filter(notification_id__in=notification_ids, state=State.PENDING)
    return list(rows.order_by("pk").values_list("pk", flat=True))


def due_for_retry(now: datetime | None = None, limit: int = 500) -> list[int]:
    """Pending channel rows whose next attempt is due and that no worker holds, oldest first."""
    now = now or timezone.now()
    rows = (
        ChannelDelivery.objects.filter(state=State.PENDING, next_attempt_at__lte=now)
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .order_by("next_attempt_at", "pk")
    )
    return list(rows.values_list("pk", flat=True)[:limit])
