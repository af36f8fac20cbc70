"""Small template helpers: status badges (text and colour), times for the viewer's clock, deltas."""

import time
from datetime import UTC, datetime

from django import template
from django.utils.formats import number_format
from django.utils.html import escape, format_html
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from checks.alerts.guidance import guidance_blocks
from checks.alerts.rules import threshold_for_problems
from checks.status import PROBLEM_LABELS, BotState, Status, status_text
from dashboard.roles import Role, has_role

register = template.Library()

# Colour class per state; the label is always printed next to it (status never by colour alone).
STATE_CLASS = {
    BotState.PENDING: "pending",
    BotState.OK: "ok",
    BotState.DEGRADED: "warn",
    BotState.RATE_LIMITED: "warn",
    BotState.SERVER_ERROR: "warn",
    BotState.UNREACHABLE: "warn",
    BotState.BAD_RESPONSE: "warn",
}

# Glyphs give a second, shape-based cue besides colour.
STATE_GLYPH = {"ok": "✓", "warn": "!", "bad": "✕", "pending": "…"}


def state_class(value: str) -> str:
    return STATE_CLASS.get(value, "bad")


@register.filter
def status_class(value: str) -> str:
    return state_class(value)


@register.simple_tag
def status_badge(value: str, problems: list | None = None) -> str:
    """The status in text and colour; a degraded one names its problems ("Degraded: event backlog")."""
    label = status_text(value, problems)
    cls = state_class(value)
    return format_html(
        '<span class="badge s-{}" data-status="{}"><span aria-hidden="true">{}</span> {}</span>',
        cls,
        value,
        STATE_GLYPH[cls],
        label,
    )


@register.simple_tag
def reltime(value: datetime | None, empty: str = "") -> str:
    """<time> that static/dashboard/app.js turns into "3 min ago" with the local time on hover."""
    if value is None:
        return format_html('<span class="muted">{}</span>', empty or _("never"))
    utc = value.astimezone(UTC)
    return format_html(
        '<time datetime="{}" title="{} UTC">{} UTC</time>',
        utc.isoformat(timespec="seconds"),
        utc.strftime("%Y-%m-%d %H:%M:%S"),
        utc.strftime("%Y-%m-%d %H:%M"),
    )


@register.simple_tag
def abstime(value: datetime | None) -> str:
    """An absolute <time>, shown in the viewer's timezone by app.js."""
    if value is None:
        return ""
    utc = value.astimezone(UTC)
    return format_html(
        '<time datetime="{}" data-format="absolute">{} UTC</time>',
        utc.isoformat(timespec="seconds"),
        utc.strftime("%Y-%m-%d %H:%M:%S"),
    )


@register.simple_tag
def delta(current: int | None, before: int | None) -> str:
    """Change of a counter, e.g. "+12", with a sign a screen reader reads too."""
    if not isinstance(current, int) or not isinstance(before, int):
        return ""  # unknown now or 24 h ago (a missing value renders as "")
    diff = current - before
    if diff == 0:
        return format_html('<span class="delta zero" title="{}">±0</span>', _("no change in 24 h"))
    cls = "up" if diff > 0 else "down"
    shown = ("+" if diff > 0 else "-") + count(abs(diff))
    return format_html('<span class="delta {}" title="{}">{}</span>', cls, _("change in 24 h"), shown)


@register.filter
def ms(value: int | None) -> str:
    if value is None:
        return "—"
    if value >= 1000:
        return _("%(seconds)s s") % {"seconds": number_format(value / 1000, 1)}
    return _("%(ms)s ms") % {"ms": count(value)}


@register.filter
def percent(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{number_format(value * 100, 2)} %" if value < 1 else "100 %"


@register.filter
def count(value: int | None) -> str:
    """A counter for reading, in the viewer's language: 12 345 (a non-breaking space) or 12,345; "—" unknown."""
    if value is None:
        return "—"
    return number_format(value, force_grouping=True)


@register.filter
def can(user, role_name: str) -> bool:
    return has_role(user, Role[role_name.upper()])


@register.simple_tag
def heartbeat(beats: list, size: int = 30) -> str:
    """The last verifications as little bars, oldest left; empty slots pad on the left.

    Built in Python, not a sub-template: the overview draws 100 rows x 30 bars, and a
    template loop with a date filter per bar cost seconds where this costs milliseconds.
    """
    beats = list(beats)[-size:]
    ok = sum(1 for b in beats if b["status"] == BotState.OK)
    if beats:
        summary = ngettext(
            "last %(n)s verification: %(ok)s ok, %(failed)s failed; latest %(latest)s",
            "last %(n)s verifications: %(ok)s ok, %(failed)s failed; latest %(latest)s",
            len(beats),
        ) % {"n": len(beats), "ok": ok, "failed": len(beats) - ok, "latest": beats[-1]["status"]}
    else:
        summary = _("no verifications yet")
    parts = ['<span class="beat b-empty"></span>'] * (size - len(beats))
    for b in beats:
        title = f"{b['status']} · {time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime(b['at']))} UTC · {b['ms']} ms"
        parts.append(f'<span class="beat b-{state_class(b["status"])}" title="{escape(title)}"></span>')
    label = escape(summary)
    # Every value above is escaped or an enum value.
    return mark_safe(f'<span class="beats" role="img" aria-label="{label}" title="{label}">{"".join(parts)}</span>')  # noqa: S308


@register.inclusion_tag("dashboard/_guidance.html")
def guidance(status: str, error_code: str = "", problems: list | None = None, compact: bool = False) -> dict:
    """Probable causes and what to do beside a failing status: the same text the alert emails carry."""
    if status in (BotState.OK, BotState.PENDING, ""):
        return {"blocks": []}
    problems = problems if status == Status.DEGRADED else []
    blocks = [
        {**b, "label": PROBLEM_LABELS.get(b["code"], b["code"])} for b in guidance_blocks(status, error_code, problems)
    ]
    return {"blocks": blocks, "compact": compact}


@register.simple_tag
def guidance_hint(status: str, error_code: str = "", problems: list | None = None) -> str:
    """The guidance as one line of plain text, for a tooltip: "Probable cause: … What to do: …"."""
    if status in (BotState.OK, BotState.PENDING, ""):
        return ""
    blocks = guidance_blocks(status, error_code, problems if status == Status.DEGRADED else [])
    hint = _("Probable cause: %(cause)s What to do: %(action)s")
    return " ".join(hint % {"cause": b["causes"][0], "action": b["actions"][0]} for b in blocks)


@register.simple_tag
def alert_threshold(status: str, failures: int, thresholds: dict | None = None, problems: list | None = None) -> str:
    """Where a failing status stands against its alert threshold: "1 of 2 failed checks before an alert"."""
    if status in (BotState.OK, BotState.PENDING, ""):
        return ""
    needed = threshold_for_problems(status, problems or [], thresholds)
    if failures >= needed:
        return ngettext(
            "alert threshold reached: %(n)s failed check in a row",
            "alert threshold reached: %(n)s failed checks in a row",
            needed,
        ) % {"n": needed}
    return ngettext(
        "%(failures)s of %(n)s failed check before an alert",
        "%(failures)s of %(n)s failed checks before an alert",
        needed,
    ) % {"failures": failures, "n": needed}


@register.filter
def problem_label(check: str) -> str:
    """A health check's problem in plain words: drift -> "settings changed"."""
    return PROBLEM_LABELS.get(check, str(check).replace("_", " "))
