"""What the alerts beyond one bot say: a portal's incident, a fleet wave, the app's paid period ending.

Rendered when the event happens, like the bots' (checks.alerts.messages), with every stored secret of
the portals concerned scrubbed.
"""

import re
from datetime import date, timedelta

from django.conf import settings
from django.template.loader import render_to_string
from django.urls import NoReverseMatch, reverse
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext, pgettext_lazy

from checks.alerts.guidance import guidance_blocks, guidance_for
from checks.alerts.messages import RenderedEmail, bot_url, display_code, duration_text, portal_secrets, scrub
from checks.models import Bot, Incident, IncidentEvent, Portal
from checks.status import PORTAL_FAILURES, BotState, Status

Kind = IncidentEvent.Kind
BOTS_NAMED = 20  # bots named in a portal email; the rest are counted
# How a portal's status reads in a sentence: "acme is unreachable" (lazy: in the language rendered in).
PHRASES = {
    Status.UNREACHABLE: pgettext_lazy("portal is", "unreachable"),
    Status.SERVER_ERROR: pgettext_lazy("portal is", "failing with server errors"),
    Status.PORTAL_UNAVAILABLE: pgettext_lazy("portal is", "unavailable"),
    Status.AUTH_FAILED: pgettext_lazy("portal is", "refusing BotWatch's credentials"),
    Status.RATE_LIMITED: pgettext_lazy("portal is", "rate limited"),
    Status.DEGRADED: pgettext_lazy("portal is", "degraded"),
}
SHORT = {
    Status.UNREACHABLE: pgettext_lazy("portal status in a subject", "unreachable"),
    Status.SERVER_ERROR: pgettext_lazy("portal status in a subject", "server error"),
    Status.PORTAL_UNAVAILABLE: pgettext_lazy("portal status in a subject", "unavailable"),
    Status.AUTH_FAILED: pgettext_lazy("portal status in a subject", "auth failed"),
    Status.RATE_LIMITED: pgettext_lazy("portal status in a subject", "rate limited"),
    Status.DEGRADED: pgettext_lazy("portal status in a subject", "degraded"),
}


def portal_url(portal: Portal) -> str:
    try:
        path = reverse("dashboard:portal-detail", args=[portal.pk])
    except NoReverseMatch:
        path = f"/portals/{portal.pk}/"
    return settings.SITE_URL + path


def _text(template: str, ctx: dict) -> str:
    # Template tags leave blank runs behind; a plain-text email reads better without them.
    return re.sub(r"\n{3,}", "\n\n", render_to_string(template, ctx)).strip() + "\n"


def _scrubbed(subject: str, ctx: dict, name: str, secrets: list[str]) -> RenderedEmail:
    ctx["subject"] = subject
    text = _text(f"emails/{name}.txt", ctx)
    html = render_to_string(f"emails/{name}.html", ctx)
    return RenderedEmail(scrub(subject, secrets), scrub(text, secrets), scrub(html, secrets))


def _base_ctx(kind: str, portal: Portal | None) -> dict:
    return {
        "kind": kind,
        "portal": {"name": portal.name, "url": portal.url} if portal else {"name": "", "url": ""},
        "site_url": settings.SITE_URL,
        "reminder_hours": settings.BOTWATCH_REMINDER_HOURS,
        "ack_place": "alerts",  # reminders are acknowledged on the Alerts page, not a bot's
    }


# --- A portal's incident --------------------------------------------------------------


def render_portal_email(kind: str, incident: Incident, event: IncidentEvent, previous: str = "") -> RenderedEmail:
    """One email about a portal's incident: opened, escalated (`previous`: the status before), reminder, resolved."""
    portal = incident.portal
    status = incident.last_status
    bots = list(Bot.objects.filter(portal=portal, enabled=True).only("code", "bot_id", "status", "last_error"))
    failing = status in PORTAL_FAILURES
    code = display_code(status, incident.error_code)
    ctx = {
        **_base_ctx(kind, portal),
        "phrase": str(PHRASES.get(status, status)),
        "previous": str(PHRASES.get(previous, previous)),
        "failing": failing,
        "status": status,
        "status_label": str(Status(status).label) if status in Status.values else status,
        "code": code,
        "worst_code": display_code(incident.status, incident.error_code if incident.status == status else ""),
        "error_code": incident.error_code,
        "error_description": incident.error_description,
        "http_status": incident.http_status,
        "problems": incident.problems or [],
        "started_at": incident.started_at,
        "resolved_at": incident.resolved_at,
        "acknowledged_at": incident.acknowledged_at,
        "duration": duration_text((incident.resolved_at or event.created_at) - incident.started_at),
        "n_bots": len(bots),
        "bot_names": [b.label for b in bots[:BOTS_NAMED]],
        "more_bots": max(0, len(bots) - BOTS_NAMED),
        "still_failing": [
            {"label": b.label, "code": b.last_error or b.status.upper()}
            for b in bots
            if b.status not in (BotState.OK, BotState.PENDING)
        ],
        "plan": portal.plan,
        "url": portal_url(portal),
        "guidance": [] if kind == Kind.RESOLVED else guidance_blocks(status, incident.error_code, incident.problems),
    }
    return _scrubbed(portal_subject(kind, portal, incident, len(bots), previous), ctx, "portal", portal_secrets(portal))


def portal_subject(kind: str, portal: Portal, incident: Incident, n_bots: int, previous: str = "") -> str:
    """`[BotWatch] acme unreachable: 12 bots not verified`, and its escalation, reminder and recovery."""
    status = incident.last_status
    if kind == Kind.RESOLVED:
        words = {"portal": portal.name, "was": SHORT.get(incident.status, incident.status)}
        return _("[BotWatch] RESOLVED: portal %(portal)s answers again (was %(was)s)") % words
    what = str(SHORT.get(status, status))
    if incident.error_code:
        what += f" ({incident.error_code})"
    elif status == Status.DEGRADED and incident.problems:
        what += f" ({', '.join(dict.fromkeys(p.get('check', '') for p in incident.problems))})"
    tail = ngettext("%(n)d bot not verified", "%(n)d bots not verified", n_bots) % {"n": n_bots}
    if status not in PORTAL_FAILURES:
        tail = _("its bots are still verified")
    words = {"portal": portal.name, "what": what, "tail": tail, "was": SHORT.get(previous, previous)}
    if kind == Kind.REMINDER:
        return _("[BotWatch] Still failing: %(portal)s %(what)s: %(tail)s") % words
    if kind == Kind.ESCALATED and previous:
        return _("[BotWatch] Worse: %(portal)s %(what)s: %(tail)s (was %(was)s)") % words
    if kind == Kind.ESCALATED:
        return _("[BotWatch] Worse: %(portal)s %(what)s: %(tail)s") % words
    return _("[BotWatch] %(portal)s %(what)s: %(tail)s") % words


# --- A fleet wave ---------------------------------------------------------------------


def render_wave_email(kind: str, wave: Incident, parts: list[Incident]) -> RenderedEmail:
    """One email about a wave: announced (every portal gathered so far), reminder, resolved."""
    rows = [
        {
            "portal": part.portal.name,
            "bot": part.bot.label,
            "code": display_code(part.last_status, part.error_code),
            "started_at": part.started_at,
            "resolved_at": part.resolved_at,
            "url": bot_url(part.bot),
        }
        for part in parts
    ]
    codes = list(dict.fromkeys(row["code"] for row in rows))
    open_count = sum(1 for part in parts if part.state == Incident.State.OPEN)
    causes, actions = guidance_for(wave.status, wave.error_code)
    ctx = {
        **_base_ctx(kind, None),
        "wave": True,
        "code": wave.wave_code,
        "codes": codes,
        "parts": rows,
        "open_count": open_count,
        "window_minutes": 15,
        "join_minutes": 60,
        "guidance": [] if kind == Kind.RESOLVED else [{"code": codes[0] if codes else "", "causes": causes,
                                                       "actions": actions}],
    }  # fmt: skip
    secrets = sorted({s for part in parts for s in portal_secrets(part.portal)}, key=len, reverse=True)
    return _scrubbed(wave_subject(kind, wave, len(parts), open_count, codes), ctx, "wave", secrets)


def wave_subject(kind: str, wave: Incident, portals: int, open_count: int, codes: list[str]) -> str:
    words = {"code": wave.wave_code, "portals": portals, "open": open_count, "codes": ", ".join(codes)}
    if kind == Kind.RESOLVED:
        return (
            ngettext(
                "[BotWatch] RESOLVED: fleet wave of %(code)s, back on all %(portals)d portal",
                "[BotWatch] RESOLVED: fleet wave of %(code)s, back on all %(portals)d portals",
                portals,
            )
            % words
        )
    if kind == Kind.REMINDER:
        return (
            ngettext(
                "[BotWatch] Still failing: fleet wave of %(code)s on %(open)d of %(portals)d portal",
                "[BotWatch] Still failing: fleet wave of %(code)s on %(open)d of %(portals)d portals",
                portals,
            )
            % words
        )
    return (
        ngettext(
            "[BotWatch] Fleet wave: %(code)s %(codes)s on %(portals)d portal",
            "[BotWatch] Fleet wave: %(code)s %(codes)s on %(portals)d portals",
            portals,
        )
        % words
    )


# --- The app's paid period ------------------------------------------------------------


def render_payment_email(portal: Portal, paid_until: date, today: date) -> RenderedEmail:
    days = (paid_until - today) // timedelta(days=1)
    expired = bool(portal.app_payment_expired) or days < 0
    ctx = {
        **_base_ctx(IncidentEvent.Kind.PAYMENT, portal),
        "days": days,
        "expired": expired,
        "paid_until": paid_until,
        "client_id": portal.oauth_client_id,
        "app_status": portal.app_status,
        "plan": portal.plan,
        "url": portal_url(portal),
    }
    # The date as in the email's body: in the active language's format.
    words = {"portal": portal.name, "days": days, "date": date_format(paid_until, _("Y-m-d"))}
    if expired:
        subject = _("[BotWatch] %(portal)s: the app's paid period has ended (%(date)s)") % words
    else:
        subject = (
            ngettext(
                "[BotWatch] %(portal)s: the app's paid period ends in %(days)d day (%(date)s)",
                "[BotWatch] %(portal)s: the app's paid period ends in %(days)d days (%(date)s)",
                days,
            )
            % words
        )
    return _scrubbed(subject, ctx, "payment", portal_secrets(portal))
