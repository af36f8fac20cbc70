"""Tags of the customer's pages (status page, report): percentages, durations in words, the day bars."""

from datetime import timedelta

from django import template
from django.utils.html import escape
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _

from checks.customer.badges import percent as badge_percent

register = template.Library()


@register.filter
def percent(value: float | None) -> str:
    return badge_percent(value) if value is not None else _("no checks")


@register.filter
def duration_words(value: timedelta) -> str:
    minutes = int(value.total_seconds() // 60)
    days, minutes = divmod(minutes, 1440)
    hours, minutes = divmod(minutes, 60)
    parts = [(days, _("d")), (hours, _("h")), (minutes, _("min"))]
    shown = [f"{n} {unit}" for n, unit in parts if n][:2]
    return " ".join(shown) or _("under a minute")


@register.simple_tag
def day_bars(days) -> str:
    """One bar per day, its colour by class and its words in the title (no inline style: the CSP)."""
    none = escape(_("no checks"))
    out = []
    for day in days:
        checks, good = day.checks, day.good
        if not checks:
            out.append(f'<span class="bar bar-none" title="{day.day}: {none}"></span>')
            continue
        words = f"{badge_percent(good / checks)} ({good}/{checks})"
        out.append(f'<span class="bar bar-{day.level}" title="{day.day}: {words}"></span>')
    return mark_safe("".join(out))  # noqa: S308 - dates, figures and escaped words only
