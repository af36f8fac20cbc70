"""What an alert says: email subject, text and HTML, and the short chat text for channels, with secrets scrubbed."""

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db.models import Q, TextField
from django.db.models.functions import Cast
from django.template.loader import render_to_string
from django.urls import NoReverseMatch, reverse
from django.utils import translation
from django.utils.html import escape
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from checks.alerts.channel_urls import url_secrets
from checks.alerts.guidance import guidance_blocks
from checks.crypto import DecryptionError, decrypt
from checks.models import Bot, Incident, IncidentEvent, Portal, Subscription
from checks.status import Status

log = logging.getLogger(__name__)

Kind = IncidentEvent.Kind
REDACTED = "[redacted]"
SUBJECT_MAX = 250  # Notification.subject holds 300; mail clients cut long subjects anyway


def header_text(value: str, limit: int = SUBJECT_MAX) -> str:
    """A value fit for an email header: one line, control characters gone, bounded.

    Error codes come from portals and bot codes from admins; a CR or LF in a header makes
    Django refuse the whole message (BadHeaderError), and would otherwise inject headers.
    """
    printable = "".join(ch if ch.isprintable() else " " for ch in str(value))
    return " ".join(printable.split())[:limit]


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
    # For chat channels, from the same content: the subject as title, a few lines as body.
    chat_title: str = ""
    chat_body: str = ""


# An alert's rendering, called once per language it goes out in (the instance's, each channel's).
Render = Callable[[], RenderedEmail]


def render_in(language: str, render: Render) -> RenderedEmail:
    """`render()` with `language` active: words, dates and numbers in that language."""
    with translation.override(language):
        return render()


CHAT_BOTS = 10  # bots listed in a chat message; the email lists every one


def display_code(status: str, error_code: str = "", problems: list | None = None) -> str:
    """The code support staff search for: Bitrix24's own error code, else the status in capitals.

    A degraded bot names its failed checks: DEGRADED (event_backlog, drift).
    """
    if not error_code and status == Status.DEGRADED and problems:
        checks = dict.fromkeys(str(p.get("check", "")) for p in problems)
        return f"DEGRADED ({', '.join(checks)})"
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
        "status_label": str(Status(status).label) if status in Status.values else status,
        "code": display_code(status, incident.error_code, incident.problems),
        "error_code": incident.error_code,
        "error_description": incident.error_description,
        "http_status": incident.http_status,
        "started_at": incident.started_at,
        "opened_at": incident.opened_at,
        "resolved_at": incident.resolved_at,
        "duration": duration_text((incident.resolved_at or item.event.created_at) - incident.started_at),
        "worst_code": display_code(incident.status, worst_code),
        # A degraded incident escalating on a new problem names the problem, not "was DEGRADED".
        "previous_code": display_code(item.previous_status, item.previous_code)
        if item.previous_status and item.previous_status != status
        else "",
        "last_ok_at": bot.last_ok_at,
        "counters": _counters(bot),
        "url": bot_url(bot),
        "acknowledged_at": incident.acknowledged_at,
        "problems": incident.problems if status == Status.DEGRADED else [],
        **item.extra,
    }


def _guidance(rows: list[dict]) -> list[dict]:
    """Probable causes and what to do, once per distinct code shown in the email (not per bot)."""
    seen = {}
    for row in rows:
        # A degraded bot's guidance is its failed checks'; other statuses go by their code.
        for block in guidance_blocks(row["status"], row["error_code"], row["problems"]):
            seen.setdefault(block["code"], block)
    return list(seen.values())


def duration_text(delta: timedelta) -> str:
    """`2 d 3 h 5 min`, in the active language (units abbreviated: no plural forms needed)."""
    if delta < timedelta(minutes=1):
        return _("under 1 min")
    minutes = int(delta.total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    units = ((days, _("%(n)d d")), (hours, _("%(n)d h")), (minutes, _("%(n)d min")))
    return " ".join(unit % {"n": n} for n, unit in units if n)


def _subject(kind: str, portal: Portal, items: list[dict]) -> str:
    codes = ", ".join(dict.fromkeys(i["code"] for i in items))
    n = len(items)
    who = items[0]["bot"] if n == 1 else ngettext("%(n)d bot", "%(n)d bots", n) % {"n": n}
    words = {"who": who, "portal": portal.name, "codes": codes}
    if kind == Kind.RESOLVED:
        was = ", ".join(dict.fromkeys(i["worst_code"] for i in items))
        return _("[BotWatch] RESOLVED: %(who)s on %(portal)s (was %(was)s)") % {**words, "was": was}
    if kind == Kind.REMINDER:
        return _("[BotWatch] Still failing: %(codes)s: %(who)s on %(portal)s") % words
    if kind == Kind.ESCALATED and n == 1 and items[0]["previous_code"]:
        return _("[BotWatch] Worse: %(codes)s: %(who)s on %(portal)s (was %(was)s)") % {
            **words,
            "was": items[0]["previous_code"],
        }
    if kind == Kind.ESCALATED:
        return _("[BotWatch] Worse: %(codes)s: %(who)s on %(portal)s") % words
    return _("[BotWatch] %(codes)s: %(who)s on %(portal)s") % words


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
    subject = header_text(_subject(kind, portal, rows))
    ctx["subject"] = subject
    # Template tags leave blank runs behind; a plain-text email reads better without them.
    text = re.sub(r"\n{3,}", "\n\n", render_to_string(f"emails/{kind}.txt", ctx)).strip() + "\n"
    html = render_to_string(f"emails/{kind}.html", ctx)
    chat = render_to_string("channels/alert.txt", {**ctx, **_chat_context(ctx)}).strip()
    secrets = portal_secrets(portal)
    return RenderedEmail(
        scrub(subject, secrets),
        scrub(text, secrets),
        scrub(html, secrets),
        scrub(subject, secrets),
        scrub(chat, secrets),
    )


def _chat_context(ctx: dict) -> dict:
    rows, guidance = ctx["items"], ctx["guidance"]
    actions = guidance[0]["actions"] if guidance else []
    return {
        "shown": rows[:CHAT_BOTS],
        "hidden": max(len(rows) - CHAT_BOTS, 0),
        "first_action": actions[0] if actions else "",
    }


def portal_secrets(portal: Portal) -> list[str]:
    """Every stored secret of a portal and its bots, to be kept out of anything sent."""
    # The portal's own secrets were decrypted when it was loaded; its channel URLs hold tokens too.
    found = [getattr(portal, name) for name in Portal.SECRET_FIELDS]
    # Long pieces only: a path segment like "hook" would redact "webhook" from every email.
    found += [piece for url in channel_urls_of(portal) for piece in url_secrets(url, shortest=8)]
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


def recipients_for(portal: Portal, listed: list[str] | None = None) -> list[str]:
    """The portal's list (else BOTWATCH_ALERT_EMAILS), or a route's emails when `listed`, plus users
    subscribed to the portal or to every portal."""
    subscribed = (
        Subscription.objects.filter(Q(portal=portal) | Q(portal__isnull=True), user__is_active=True)
        .exclude(user__email="")
        .values_list("user__email", flat=True)
    )
    seen, result = set(), []
    for email in [*(portal.recipients if listed is None else listed), *subscribed]:
        if email.lower() not in seen:
            seen.add(email.lower())
            result.append(email)
    return result


def channel_urls_of(portal: Portal) -> list[str]:
    """The portal's own channel URLs: its notify list and the URLs among its routes."""
    routed = [target for targets in (portal.routes or {}).values() for target in targets if "://" in target]
    return [*(portal.notify or []), *routed]
