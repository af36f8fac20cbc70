"""What a portal's status page shows: its bots in plain words, 90 days of daily uptime, incidents.

Read in a fixed number of queries whatever the number of bots: the bots, their daily tallies
(checks.history.lists.daily_tallies: two), the open incidents and the latest resolved ones.
Only plain words and figures leave here: never an error code, a description or a secret.

The days before today do not change once they are over, so their bars are drawn once and kept
in the cache for an hour (PAST_SECONDS: the hourly history job may still fold the last of them);
a request reads and draws only today's tallies.
"""

import hashlib
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.templatetags.static import static
from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import get_language
from django.utils.translation import gettext as gettext_now
from django.utils.translation import gettext_lazy as _

from checks.customer.badges import percent
from checks.history import days as packed_days
from checks.history.answers import AnswerSummary, answer_summaries
from checks.history.lists import daily_tallies
from checks.models import Bot, Incident, Portal
from checks.status import PORTAL_FAILURES, BotState

DAYS = 90
HISTORY = 10  # resolved incidents listed under the open ones
ANSWER_DAYS = 7  # the status page's answer times: the last week's probes
PAST_SECONDS = 3600

# A status in the customer's words, and the colour class of its badge.
PLAIN = {
    BotState.OK: (_("Working"), "up"),
    BotState.PENDING: (_("Not checked yet"), "unknown"),
    BotState.DEGRADED: (_("Working, with problems"), "warn"),
    BotState.NOT_FOUND: (_("Not installed on the portal"), "down"),
    BotState.NOT_OWNER: (_("Cannot be verified"), "down"),
    BotState.AUTH_FAILED: (_("Cannot be verified"), "down"),
    BotState.MISCONFIGURED: (_("Cannot be verified"), "down"),
    BotState.PORTAL_UNAVAILABLE: (_("Portal not available"), "down"),
    BotState.RATE_LIMITED: (_("Portal busy"), "warn"),
    BotState.SERVER_ERROR: (_("Portal not responding"), "down"),
    BotState.UNREACHABLE: (_("Portal not responding"), "down"),
    BotState.BAD_RESPONSE: (_("Not responding correctly"), "down"),
    BotState.ERROR: (_("Not responding correctly"), "down"),
}
CAUSE = {Incident.Kind.PORTAL: _("The portal"), Incident.Kind.BOT: _("The bot")}


def plain(status: str) -> tuple[str, str]:
    return PLAIN.get(status, PLAIN[BotState.ERROR])


def team() -> dict:
    """The support team's name and logo (BOTWATCH_TEAM_NAME, BOTWATCH_TEAM_LOGO_URL: an address, or a static path)."""
    logo = settings.BOTWATCH_TEAM_LOGO_URL
    if logo and not logo.startswith(("http://", "https://", "/")):
        logo = static(logo)
    return {"name": settings.BOTWATCH_TEAM_NAME, "logo": logo}


@dataclass(slots=True)
class Day:
    day: date
    checks: int
    good: int

    @property
    def uptime(self) -> float | None:
        return self.good / self.checks if self.checks else None

    @property
    def level(self) -> str:
        """The bar's colour class: up (all good), warn (at least 99 %), down, or none (no checks)."""
        if not self.checks:
            return "none"
        if self.good == self.checks:
            return "up"
        return "warn" if self.uptime >= 0.99 else "down"


@dataclass
class BotLine:
    label: str
    status: str
    words: str
    tone: str
    days: list[Day] = field(default_factory=list)
    answers: AnswerSummary | None = None  # probes over the same days, for a bot that was probed

    @property
    def uptime(self) -> float | None:
        checks = sum(d.checks for d in self.days)
        return sum(d.good for d in self.days) / checks if checks else None


@dataclass
class IncidentLine:
    subject: str
    cause: str
    words: str
    started_at: datetime
    resolved_at: datetime | None
    acknowledged_by: str = ""

    @property
    def duration(self) -> timedelta:
        return (self.resolved_at or timezone.now()) - self.started_at


def day_range(last: date, count: int) -> list[date]:
    return [last - timedelta(days=count - 1 - n) for n in range(count)]


@dataclass
class StatusLine:
    """A bot on the status page: its bars already drawn, and its checks over the whole window."""

    label: str
    status: str
    words: str
    tone: str
    bars: SafeString
    checks: int
    good: int
    answers: AnswerSummary | None = None  # the last ANSWER_DAYS of probes, for a bot that was probed

    @property
    def uptime(self) -> float | None:
        return self.good / self.checks if self.checks else None


def bars_html(days: list[Day]) -> str:
    """One bar per day, its colour by class and its words in the title (no inline style: the CSP)."""
    none = escape(gettext_now("no checks"))
    out = []
    for day in days:
        checks, good = day.checks, day.good
        if not checks:
            out.append(f'<span class="bar bar-none" title="{day.day}: {none}"></span>')
            continue
        words = f"{percent(good / checks)} ({good}/{checks})"
        out.append(f'<span class="bar bar-{day.level}" title="{day.day}: {words}"></span>')
    return "".join(out)


def _enabled_bots(portal: Portal) -> list[Bot]:
    return list(
        Bot.objects.filter(portal=portal, enabled=True)
        .only("id", "code", "bot_id", "status", "hour_start", "hour_checks", "portal_id")
        .order_by("code", "bot_id")
    )


def _past_bars(portal: Portal, bots: list[Bot], first: date, last: date) -> dict[int, tuple[str, int, int]]:
    """{bot id: (bars drawn, checks, good)} of the complete days from `first` to `last`, cached."""
    ids = hashlib.sha256(",".join(str(bot.pk) for bot in bots).encode()).hexdigest()[:16]
    key = f"status-past:{portal.pk}:{first}:{last}:{get_language()}:{ids}"
    past = cache.get(key)
    if past is None:
        tallies = daily_tallies(bots, first, last) if first <= last else {}
        span = day_range(last, (last - first).days + 1) if first <= last else []
        past = {}
        for bot in bots:
            by_day = tallies.get(bot.pk, {})
            days = [Day(d, *by_day.get(d, (0, 0))) for d in span]
            past[bot.pk] = (bars_html(days), sum(d.checks for d in days), sum(d.good for d in days))
        cache.set(key, past, PAST_SECONDS)
    return past


def status_lines(portal: Portal, first: date, today: date) -> list[StatusLine]:
    """Each enabled bot with its status and its bars from `first` to `today`: today read now."""
    bots = _enabled_bots(portal)
    past = _past_bars(portal, bots, first, today - timedelta(days=1))
    now = daily_tallies(bots, today, today)
    start = packed_days.day_start(today - timedelta(days=ANSWER_DAYS - 1))
    answers = answer_summaries([bot.pk for bot in bots], start, packed_days.day_start(today + timedelta(days=1)))
    lines = []
    for bot in bots:
        drawn, checks, good = past.get(bot.pk, ("", 0, 0))
        day = Day(today, *now.get(bot.pk, {}).get(today, (0, 0)))
        words, tone = plain(bot.status)
        bars = mark_safe(drawn + bars_html([day]))  # noqa: S308 - dates, figures and escaped words only
        lines.append(
            StatusLine(
                bot.label, bot.status, words, tone, bars, checks + day.checks, good + day.good, answers.get(bot.pk)
            )
        )
    return lines


def bot_lines(portal: Portal, first: date, last: date) -> list[BotLine]:
    """Each enabled bot of the portal with its status and its days from `first` to `last`."""
    bots = _enabled_bots(portal)
    tallies = daily_tallies(bots, first, last)
    start, end = packed_days.day_start(first), packed_days.day_start(last + timedelta(days=1))
    answers = answer_summaries([bot.pk for bot in bots], start, end)
    span = day_range(last, (last - first).days + 1)
    lines = []
    for bot in bots:
        by_day = tallies.get(bot.pk, {})
        words, tone = plain(bot.status)
        days = [Day(d, *by_day.get(d, (0, 0))) for d in span]
        lines.append(BotLine(bot.label, bot.status, words, tone, days, answers.get(bot.pk)))
    return lines


def incident_line(incident: Incident) -> IncidentLine:
    subject = incident.portal.name if incident.kind == Incident.Kind.PORTAL else incident.bot.label
    user = incident.acknowledged_by
    return IncidentLine(
        subject=subject,
        cause=CAUSE.get(incident.kind, CAUSE[Incident.Kind.BOT]),
        words=plain(incident.status)[0],
        started_at=incident.started_at,
        resolved_at=incident.resolved_at,
        acknowledged_by=(user.get_full_name() or user.get_username()) if user else "",
    )


def portal_incidents(portal: Portal):
    """The portal's own incidents and its bots' (never a wave, which spans other portals)."""
    return (
        Incident.objects.filter(portal=portal, kind__in=[Incident.Kind.BOT, Incident.Kind.PORTAL])
        .select_related("bot", "portal", "acknowledged_by")
        .only(
            "kind",
            "status",
            "started_at",
            "resolved_at",
            "state",
            "bot__code",
            "bot__bot_id",
            "portal__name",
            "acknowledged_by__username",
            "acknowledged_by__first_name",
            "acknowledged_by__last_name",
        )
    )


def status_page(portal: Portal, now: datetime | None = None) -> dict:
    """The status page's context: the portal's bots, its days, its incidents, in plain words."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    lines = status_lines(portal, today - timedelta(days=DAYS - 1), today)
    incidents = portal_incidents(portal)
    open_ = [incident_line(i) for i in incidents.filter(state=Incident.State.OPEN).order_by("-started_at")]
    past = incidents.filter(state=Incident.State.RESOLVED).order_by("-resolved_at")[:HISTORY]
    words, tone = plain(portal.status) if portal.status in PORTAL_FAILURES else ("", "")
    return {
        "portal": portal,
        "title": portal.customer_name or portal.name,
        "team": team(),
        "bots": lines,
        "days": DAYS,
        "first_day": today - timedelta(days=DAYS - 1),
        "open_incidents": open_,
        "past_incidents": [incident_line(i) for i in past],
        "portal_words": words,
        "portal_tone": tone,
        "all_up": not open_ and all(line.status == BotState.OK for line in lines),
        "updated_at": now,
    }
