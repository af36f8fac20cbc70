"""Filters of the customer's pages (status page, report): percentages and durations in words."""

from datetime import timedelta

from django import template
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


@register.filter
def seconds(ms: int) -> str:
    """An answer time in seconds, one decimal: 1234 -> "1.2 s"."""
    return _("%(seconds).1f s") % {"seconds": ms / 1000}
