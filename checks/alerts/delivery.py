"""Delivering notification rows: claim, send, record the outcome, retry with growing delays."""

import logging
import smtplib
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import BadHeaderError, EmailMultiAlternatives, get_connection
from django.db.models import F, Q
from django.utils import timezone

from checks.alerts.channels import targets_for
from checks.alerts.messages import header_text
from checks.alerts.notifiers import NotifierError
from checks.models import Notification

log = logging.getLogger(__name__)

# Retry delays after a transient failure: 30 s, 1 min, 2 min, ... capped at one hour.
FIRST_RETRY = 30
MAX_RETRY = 3600


class NoRecipients(NotifierError):
    """Nobody to email: retried until someone is named, unless channels carry the alert."""


class EmailNotifier:
    """Sends one Notification through Django's email framework (SMTP in production)."""

    def notify(self, notification: Notification) -> None:
        if not notification.recipients:
            # Nobody to tell when it was written; someone may have been named since (the
            # portal's list, BOTWATCH_ALERT_EMAILS after a restart, a subscription).
            notification.recipients = _recipients_now(notification)
            if not notification.recipients:
                # Retried like an SMTP outage (the alerts page says so): sent once someone is named.
                raise NoRecipients("no recipients: set the portal's alert emails or BOTWATCH_ALERT_EMAILS")
            Notification.objects.filter(pk=notification.pk).update(recipients=notification.recipients)
        message = EmailMultiAlternatives(
            # Cleaned again here: rows written before subjects were cleaned may still be pending.
            subject=header_text(notification.subject),
            body=notification.text_body,
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=list(notification.recipients),
            # RFC 3834: keeps vacation responders and ticket systems from answering alerts.
            headers={"Auto-Submitted": "auto-generated", "X-BotWatch-Notification": header_text(notification.key)},
        )
        message.attach_alternative(notification.html_body, "text/html")
        try:
            get_connection(fail_silently=False).send_messages([message])
        except BadHeaderError as exc:
            # The same message would be refused on every attempt: retrying cannot help.
            raise NotifierError(f"the message cannot be sent: {exc}", permanent=True) from None
        except smtplib.SMTPRecipientsRefused as exc:
            raise NotifierError(f"every recipient was refused: {_refusals(exc)}", permanent=True) from None
        except smtplib.SMTPResponseException as exc:
            # 5xx replies are the server's final word; 4xx ones (busy, greylisting) pass.
            raise NotifierError(_smtp_reply(exc), permanent=500 <= exc.smtp_code < 600) from None
        except (smtplib.SMTPException, OSError) as exc:  # OSError: refused, reset, timeout, DNS
            raise NotifierError(f"SMTP server unavailable: {exc.__class__.__name__}: {exc}") from None


def _recipients_now(notification: Notification) -> list[str]:
    # The route it was written for: a route's emails, else the portal's list (checks.alerts.channels).
    return targets_for(notification.portal, notification.route).emails if notification.portal else []


def _smtp_reply(exc: smtplib.SMTPResponseException) -> str:
    text = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
    return f"SMTP server replied {exc.smtp_code}: {text}"


def _refusals(exc: smtplib.SMTPRecipientsRefused) -> str:
    return ", ".join(f"{rcpt} ({code})" for rcpt, (code, _msg) in exc.recipients.items())


def lease_seconds() -> int:
    # Longer than any send can take, so a live sender never loses its claim; after a crash
    # the row becomes claimable again once the lease runs out (the one allowed duplicate).
    return max(300, 3 * settings.EMAIL_TIMEOUT)


def retry_delay(attempts: int) -> int:
    return min(FIRST_RETRY * 2 ** max(attempts - 1, 0), MAX_RETRY)


def claim(notification_id: int, now: datetime) -> bool:
    """Take the row for one attempt; False when it is sent, failed, or another worker holds it."""
    changed = (
        Notification.objects.filter(pk=notification_id, state=Notification.State.PENDING)
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .update(claimed_until=now + timedelta(seconds=lease_seconds()), attempts=F("attempts") + 1)
    )
    return changed == 1


def deliver(notification_id: int, *, now: datetime | None = None) -> str:
    """One delivery attempt. Returns the row's state after it, or "skipped" when not ours to send."""
    now = now or timezone.now()
    if not claim(notification_id, now):
        return "skipped"
    notification = Notification.objects.get(pk=notification_id)
    rows = Notification.objects.filter(pk=notification_id)
    error = attempt(notification)
    if isinstance(error, NoRecipients) and notification.channel_deliveries.exists():
        # The channels carry it; an email to nobody is not owed (a team that lives in chat).
        rows.update(state=Notification.State.SKIPPED, error="", claimed_until=None)
        return Notification.State.SKIPPED
    if error is None:
        rows.update(state=Notification.State.SENT, sent_at=timezone.now(), error="", claimed_until=None)
        return Notification.State.SENT
    if error.permanent:
        log.error("notification %s failed for good: %s", notification.key, error.message)
        rows.update(state=Notification.State.FAILED, error=error.message, claimed_until=None)
        return Notification.State.FAILED
    delay = retry_delay(notification.attempts)
    log.warning("notification %s: %s; next attempt in %s s", notification.key, error.message, delay)
    rows.update(error=error.message, claimed_until=None, next_attempt_at=timezone.now() + timedelta(seconds=delay))
    return Notification.State.PENDING


def attempt(notification: Notification) -> NotifierError | None:
    """Send once; the error, if any, as a NotifierError."""
    try:
        EmailNotifier().notify(notification)
    except NotifierError as exc:
        return exc
    except Exception as exc:
        # Anything unforeseen is recorded on the row and retried, never left unexplained.
        return NotifierError(f"unexpected error: {exc.__class__.__name__}: {exc}")
    return None


def due_for_retry(now: datetime | None = None, limit: int = 500) -> list[int]:
    """Pending notifications whose next attempt is due and that no worker holds, oldest first."""
    now = now or timezone.now()
    rows = (
        Notification.objects.filter(state=Notification.State.PENDING, next_attempt_at__lte=now)
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .order_by("created_at", "pk")
    )
    return list(rows.values_list("pk", flat=True)[:limit])
