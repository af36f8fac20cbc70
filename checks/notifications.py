"""Alert emails: what they say, and sending them exactly once (STYLE.md, notifiers).

A Notification row is written (pending, with its rendered bodies) in the same transaction
as the incident events it reports. `deliver()` then claims the row with a conditional
update that sets a lease, sends, and records the outcome: sent, or the error. A transient
error leaves the row pending with a later `next_attempt_at`, so an SMTP outage delays an
alert and the retry sweep sends it once the server is back; it never drops it.
"""

import logging
import re
import smtplib
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db.models import F, Q, TextField
from django.db.models.functions import Cast
from django.template.loader import render_to_string
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.html import escape

from checks.crypto import DecryptionError, decrypt
from checks.guidance import guidance_for
from checks.models import Bot, Incident, IncidentEvent, Notification, Portal, Subscription
from checks.status import Status

log = logging.getLogger(__name__)

Kind = IncidentEvent.Kind
REDACTED = "[redacted]"
# Retry delays after a transient failure: 30 s, 1 min, 2 min, ... capped at one hour.
FIRST_RETRY = 30
MAX_RETRY = 3600


# --- What the emails say ---------------------------------------------------------------


@dataclass
class AlertItem:
    """One bot's line in an email: the event, its incident and bot, and what came before."""

    event: IncidentEvent
    incident: Incident
    bot: Bot
    previous_status: str = ""
    previous_code: str = ""
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


def display_code(status: str, error_code: str = "") -> str:
    """The code support staff search for: Bitrix24's own error code, else the status in capitals."""
    return error_code or str(status).upper()


def bot_url(bot: Bot) -> str:
    try:
        path = reverse("dashboard:bot-detail", args=[bot.pk])
    except NoReverseMatch:
        path = f"/bots/{bot.pk}/"
    return settings.SITE_URL + path


def _counters(bot: Bot) -> dict | None:
    if bot.count_message is None:
        return None
    return {
        "messages": bot.count_message,
        "commands": bot.count_command,
        "chats": bot.count_chat,
        "users": bot.count_user,
    }


def _item_context(item: AlertItem) -> dict:
    incident, bot = item.incident, item.bot
    # The incident's error columns describe its latest bad verification (last_status).
    status = incident.last_status
    worst_code = incident.error_code if incident.status == incident.last_status else ""
    return {
        "bot": bot.label,
        "status": status,
        "status_label": Status(status).label if status in Status.values else status,
        "code": display_code(status, incident.error_code),
        "error_code": incident.error_code,
        "error_description": incident.error_description,
        "http_status": incident.http_status,
        "started_at": incident.started_at,
        "opened_at": incident.opened_at,
        "resolved_at": incident.resolved_at,
        "duration": _duration((incident.resolved_at or item.event.created_at) - incident.started_at),
        "worst_code": display_code(incident.status, worst_code),
        "previous_code": display_code(item.previous_status, item.previous_code) if item.previous_status else "",
        "last_ok_at": bot.last_ok_at,
        "counters": _counters(bot),
        "url": bot_url(bot),
        "acknowledged_at": incident.acknowledged_at,
        **item.extra,
    }


def _guidance(rows: list[dict]) -> list[dict]:
    """Probable causes and what to do, once per distinct code shown in the email (not per bot)."""
    seen = {}
    for row in rows:
        if row["code"] not in seen:
            causes, actions = guidance_for(row["status"], row["error_code"])
            seen[row["code"]] = {"code": row["code"], "causes": causes, "actions": actions}
    return list(seen.values())


def _duration(delta: timedelta) -> str:
    if delta < timedelta(minutes=1):
        return "under 1 min"
    minutes = int(delta.total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    parts = [f"{days} d"] if days else []
    if hours:
        parts.append(f"{hours} h")
    if minutes:
        parts.append(f"{minutes} min")
    return " ".join(parts)


def _subject(kind: str, portal: Portal, items: list[dict]) -> str:
    codes = list(dict.fromkeys(i["code"] for i in items))
    who = items[0]["bot"] if len(items) == 1 else f"{len(items)} bots"
    if kind == Kind.RESOLVED:
        was = list(dict.fromkeys(i["worst_code"] for i in items))
        return f"[BotWatch] RESOLVED: {who} on {portal.name} (was {', '.join(was)})"
    prefix = {Kind.REMINDER: "Still failing: ", Kind.ESCALATED: "Worse: "}.get(kind, "")
    suffix = ""
    if kind == Kind.ESCALATED and len(items) == 1 and items[0]["previous_code"]:
        suffix = f" (was {items[0]['previous_code']})"
    return f"[BotWatch] {prefix}{', '.join(codes)}: {who} on {portal.name}{suffix}"


def render_email(kind: str, portal: Portal, items: list[AlertItem]) -> RenderedEmail:
    """Subject, text and HTML of one email about one or more bots of one portal."""
    rows = [_item_context(item) for item in items]
    ctx = {
        "kind": kind,
        "portal": {"name": portal.name, "url": portal.url},
        "items": rows,
        "guidance": _guidance(rows) if kind != Kind.RESOLVED else [],
        "site_url": settings.SITE_URL,
        "reminder_hours": settings.BOTWATCH_REMINDER_HOURS,
    }
    subject = _subject(kind, portal, rows)
    ctx["subject"] = subject
    # Template tags leave blank runs behind; a plain-text email reads better without them.
    text = re.sub(r"\n{3,}", "\n\n", render_to_string(f"emails/{kind}.txt", ctx)).strip() + "\n"
    html = render_to_string(f"emails/{kind}.html", ctx)
    secrets = portal_secrets(portal)
    return RenderedEmail(scrub(subject, secrets), scrub(text, secrets), scrub(html, secrets))


def portal_secrets(portal: Portal) -> list[str]:
    """Every stored secret of a portal and its bots, to be kept out of anything sent."""
    # The portal's own secrets were decrypted when it was loaded.
    found = [getattr(portal, name) for name in Portal.SECRET_FIELDS]
    # Bot tokens are read as stored and decrypted one by one: through the field, one token
    # under a removed key would fail the whole query and leave every other token unscrubbed.
    stored = Bot.objects.filter(portal=portal).exclude(bot_token="")
    for ciphertext in stored.values_list(Cast("bot_token", TextField()), flat=True):
        try:
            found.append(decrypt(ciphertext))
        except DecryptionError:
            log.warning("portal %s: a bot token cannot be decrypted, emails are scrubbed of the others", portal.name)
    # Very short values would redact ordinary words; stored secrets are longer than this.
    return sorted({s for s in found if s and len(s) >= 4}, key=len, reverse=True)


def scrub(text: str, secrets: list[str]) -> str:
    """Text with every secret (plain or HTML-escaped) replaced, in case an error message echoed one."""
    for secret in secrets:
        text = text.replace(secret, REDACTED).replace(escape(secret), REDACTED)
    return text


# --- Sending ---------------------------------------------------------------------------


def recipients_for(portal: Portal) -> list[str]:
    """The portal's list (else BOTWATCH_ALERT_EMAILS), plus users subscribed to it or to every portal."""
    subscribed = (
        Subscription.objects.filter(Q(portal=portal) | Q(portal__isnull=True), user__is_active=True)
        .exclude(user__email="")
        .values_list("user__email", flat=True)
    )
    seen, result = set(), []
    for email in [*portal.recipients, *subscribed]:
        if email.lower() not in seen:
            seen.add(email.lower())
            result.append(email)
    return result


class NotifierError(Exception):
    """A failed delivery; permanent ones are not retried."""

    def __init__(self, message: str, *, permanent: bool = False):
        super().__init__(message)
        self.message = message
        self.permanent = permanent


class EmailNotifier:
    """Sends one Notification through Django's email framework (SMTP in production)."""

    def notify(self, notification: Notification) -> None:
        if not notification.recipients:
            # Nobody to tell when it was written; someone may have been named since (the
            # portal's list, BOTWATCH_ALERT_EMAILS after a restart, a subscription).
            notification.recipients = recipients_for(notification.portal)
            if not notification.recipients:
                # Retried like an SMTP outage (the alerts page says so): sent once someone is named.
                raise NotifierError("no recipients: set the portal's alert emails or BOTWATCH_ALERT_EMAILS")
            Notification.objects.filter(pk=notification.pk).update(recipients=notification.recipients)
        message = EmailMultiAlternatives(
            subject=notification.subject,
            body=notification.text_body,
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=list(notification.recipients),
            # RFC 3834: keeps vacation responders and ticket systems from answering alerts.
            headers={"Auto-Submitted": "auto-generated", "X-BotWatch-Notification": notification.key},
        )
        message.attach_alternative(notification.html_body, "text/html")
        try:
            get_connection(fail_silently=False).send_messages([message])
        except smtplib.SMTPRecipientsRefused as exc:
            raise NotifierError(f"every recipient was refused: {_refusals(exc)}", permanent=True) from None
        except smtplib.SMTPResponseException as exc:
            # 5xx replies are the server's final word; 4xx ones (busy, greylisting) pass.
            raise NotifierError(_smtp_reply(exc), permanent=500 <= exc.smtp_code < 600) from None
        except (smtplib.SMTPException, OSError) as exc:  # OSError: refused, reset, timeout, DNS
            raise NotifierError(f"SMTP server unavailable: {exc.__class__.__name__}: {exc}") from None


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
