"""One month of a portal for its customer: uptime per bot, incidents, the portal's own outages apart.

Rendered as an HTML page (the dashboard, the API, the email) and as a PDF with WeasyPrint, which
lays out the same HTML and stylesheet (docs/customer-status.md says why that library). The
month is a calendar month of the server's time zone; text is in the portal's language.
"""

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.contrib.staticfiles import finders
from django.template.loader import render_to_string
from django.utils import timezone, translation

from checks.customer.page import BotLine, IncidentLine, bot_lines, incident_line, portal_incidents, team
from checks.history import days
from checks.models import Incident, Portal

MONTH = re.compile(r"(\d{4})-(\d{2})")
STYLESHEET = "dashboard/customer.css"


class BadMonth(ValueError):
    """A month that is not YYYY-MM."""


@dataclass(frozen=True)
class Month:
    first: date

    @classmethod
    def parse(cls, text: str) -> "Month":
        match = MONTH.fullmatch(str(text).strip())
        if not match or not 1 <= int(match[2]) <= 12 or int(match[1]) < 2000:
            raise BadMonth(f"month must be YYYY-MM, e.g. 2026-11 (got {str(text)[:20]!r})")
        return cls(date(int(match[1]), int(match[2]), 1))

    @classmethod
    def before(cls, moment: datetime) -> "Month":
        """The month before the local month of `moment` (the one a report on the 1st is about)."""
        first = timezone.localdate(moment).replace(day=1)
        return cls((first - timedelta(days=1)).replace(day=1))

    @property
    def last(self) -> date:
        return (self.first + timedelta(days=32)).replace(day=1) - timedelta(days=1)

    @property
    def start(self) -> datetime:
        return days.day_start(self.first)

    @property
    def end(self) -> datetime:
        return days.day_start(self.last + timedelta(days=1))

    def __str__(self) -> str:
        return self.first.strftime("%Y-%m")


@dataclass
class Report:
    portal: Portal
    month: Month
    bots: list[BotLine]
    bot_incidents: list[IncidentLine]
    portal_outages: list[IncidentLine]

    @property
    def uptime(self) -> float | None:
        checks = sum(d.checks for line in self.bots for d in line.days)
        good = sum(d.good for line in self.bots for d in line.days)
        return good / checks if checks else None


def build(portal: Portal, month: Month) -> Report:
    """The month's figures: days capped at today, incidents that overlap the month."""
    last = min(month.last, timezone.localdate())
    lines = bot_lines(portal, month.first, last) if last >= month.first else []
    overlapping = portal_incidents(portal).filter(started_at__lt=month.end).exclude(resolved_at__lt=month.start)
    incidents = list(overlapping.order_by("started_at"))
    return Report(
        portal=portal,
        month=month,
        bots=lines,
        bot_incidents=[incident_line(i) for i in incidents if i.kind == Incident.Kind.BOT],
        portal_outages=[incident_line(i) for i in incidents if i.kind == Incident.Kind.PORTAL],
    )


def context(report: Report) -> dict:
    return {"report": report, "portal": report.portal, "title": report.portal.customer_name or report.portal.name,
            "team": team(), "month": report.month.first}  # fmt: skip


def render_html(report: Report, *, standalone: bool = False) -> str:
    """The report page in the portal's language; `standalone` inlines the stylesheet (emails, files)."""
    ctx = context(report)
    template = "customer/report.html"
    if standalone:
        ctx["inline_css"], template = _stylesheet(), "emails/customer_report.html"
    with translation.override(report.portal.language):
        return render_to_string(template, ctx)


def render_pdf(report: Report) -> bytes:
    # WeasyPrint is imported here, not at the top: it loads Pango, which only PDF requests need.
    from weasyprint import HTML

    return HTML(string=render_html(report, standalone=True), url_fetcher=_no_fetch).write_pdf()


def _stylesheet() -> str:
    path = finders.find(STYLESHEET)
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def _no_fetch(url: str, *args, **kwargs):
    # The PDF is made of the HTML and the stylesheet alone: nothing is fetched from anywhere.
    raise ValueError(f"not fetched: {url[:40]}")
