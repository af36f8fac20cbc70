"""Reading a bot's history across its stores (checks.models.history).

Every check of the raw window is in the bot's packed hours (CheckHour, then the open hour on its
row), and the checks with something to say are also whole Verification rows. Before the raw
window: DailyStat rows (with their hours) and the change rows. Uptime is counted from DailyStat
for the days folded so far and from the packed checks after them, so it is exact over any whole
local hours, whichever store a check is in now.
"""

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.db.models import QuerySet, Value
from django.utils import timezone

from checks.history import checklog, days
from checks.history.checklog import Check
from checks.models import Bot, CheckHour, DailyStat, Verification, VerificationChange
from checks.models.history import CHANGE_FIELDS
from checks.status import ResponseFormat, Status

HISTORY_FIELDS = [name for name in CHANGE_FIELDS if name not in ("bot_id", "portal_id")]


@dataclass
class HistoryRow:
    """One line of a bot's history table: a check, with its verification row's details where it has one."""

    checked_at: datetime
    status: str
    error_code: str = ""
    error_description: str = ""
    http_status: int | None = None
    duration_ms: int = 0
    response_format: str = ""
    count_message: int | None = None
    count_command: int | None = None
    count_chat: int | None = None
    count_user: int | None = None
    manual: bool = False
    problems: list = None
    event_backlog_s: int | None = None
    by_portal: bool = False

    @classmethod
    def of_check(cls, check: Check) -> "HistoryRow":
        counters = check.counters or (None,) * 4
        return cls(
            checked_at=check.checked_at,
            status=check.status,
            http_status=check.http_status,
            duration_ms=check.duration_ms,
            # A check with nothing more to say answered in the extended format (checks.history.hours).
            response_format=ResponseFormat.EXTENDED if check.ok else "",
            **dict(zip(checklog.COUNTERS, counters, strict=True)),
            manual=check.manual,
            problems=[],
            event_backlog_s=check.event_backlog_s,
            by_portal=check.by_portal,
        )


# --- Reading packed checks ---------------------------------------------------------------


def bot_checks(bot: Bot | int, since: datetime | None = None) -> list[Check]:
    """Every check of the bot kept raw (its packed hours, then its open hour), oldest first; given
    the Bot itself, its open hour is read from it."""
    bot_id = bot.pk if isinstance(bot, Bot) else bot
    rows = CheckHour.objects.filter(bot_id=bot_id)
    if since is not None:
        rows = rows.filter(hour__gt=since - timedelta(hours=1))
    checks = []
    for hour, data in rows.order_by("hour").values_list("hour", "data"):
        checks += checklog.decode(data, hour)
    if isinstance(bot, Bot):
        open_hour = (bot.hour_start, bot.hour_checks)
    else:
        open_hour = Bot.objects.filter(pk=bot_id).values_list("hour_start", "hour_checks").first()
    if open_hour and open_hour[0] is not None:
        checks += checklog.decode(open_hour[1], open_hour[0])
    checks.sort(key=lambda c: c.checked_at)  # hours are in order; a late clock's entries may not be
    return [c for c in checks if since is None or c.checked_at >= since]


# --- Uptime and charts --------------------------------------------------------------------


def window_start(now: datetime, hours: int) -> datetime:
    """Uptime windows start on a local hour boundary: the hour `hours` hours ago began."""
    return days.hour_start(now - timedelta(hours=hours))


def _stats(bot_id: int, first_day: date):
    return DailyStat.objects.filter(bot_id=bot_id, day__gte=first_day).order_by("day")


def uptime_counts(bot_id: int, *starts: datetime, raw: list[Check] | None = None) -> list[tuple[int, int]]:
    """(checks, good ones) since each of `starts`, local hour boundaries, in their order.

    `raw`: the bot's packed checks, when the caller has read them already (bot_checks)."""
    first = min(starts)
    stats = list(_stats(bot_id, timezone.localdate(first)))
    # The days folded so far for this bot end here; the packed checks after it count for themselves.
    folded_until = max([first, *(days.day_start(s.day + timedelta(days=1)) for s in stats)])
    totals = []
    for start in starts:
        checks = good = 0
        for stat in stats:
            begins = days.day_start(stat.day)
            if days.day_start(stat.day + timedelta(days=1)) <= start:
                continue
            if begins >= start or not stat.hours:
                # A whole day in the window (or one folded before hours were kept: counted whole).
                checks, good = checks + stat.checks, good + stat.checks - stat.failures
                continue
            skip = int((start - begins).total_seconds() // 3600)
            for hour in days.unpack(stat.hours, None)[skip:]:
                checks, good = checks + hour.checks, good + hour.checks - hour.failures
        totals.append([checks, good])
    later = [c for c in (bot_checks(bot_id, folded_until) if raw is None else raw) if c.checked_at >= folded_until]
    for total, start in zip(totals, starts, strict=True):
        counted = [c for c in later if c.checked_at >= start]
        total[0] += len(counted)
        total[1] += sum(c.ok for c in counted)
    return [(checks, good) for checks, good in totals]


def uptimes(
    bot_id: int, windows: list[int], now: datetime | None = None, raw: list[Check] | None = None
) -> list[float | None]:
    """The share of good checks since the local hour each window's hours ago began; None without checks."""
    now = now or timezone.now()
    pairs = uptime_counts(bot_id, *(window_start(now, hours) for hours in windows), raw=raw)
    return [good / checks if checks else None for checks, good in pairs]


def uptime(bot_id: int, hours: int, now: datetime | None = None) -> float | None:
    return uptimes(bot_id, [hours], now)[0]


def raw_since(raw: list[Check]) -> datetime | None:
    """When the oldest packed check was made (the raw history covers the time after it)."""
    return raw[0].checked_at if raw else None


def chart_points(bot_id: int, since: datetime, raw: list[Check] | None = None) -> list[tuple]:
    """(Unix seconds, countMessage, countChat, countUser, countCommand, latency ms) since `since`:
    every packed check, and one point an hour (at its middle) before the packed checks begin."""
    raw = bot_checks(bot_id) if raw is None else raw
    oldest = raw_since(raw)
    # The packed checks cover the whole range when they begin before it: no daily rows needed.
    stats = list(_stats(bot_id, timezone.localdate(since))) if oldest is None or oldest > since else []
    folded_until = days.day_start(stats[-1].day + timedelta(days=1)) if stats else since
    # Hours up to the first whole hour of packed checks (never past the folded days); checks after.
    boundary = folded_until if oldest is None else min(folded_until, days.hour_start(oldest) + timedelta(hours=1))
    boundary = max(boundary, since)
    points = []
    for stat in stats:
        begins = days.day_start(stat.day)
        for index, hour in enumerate(days.unpack(stat.hours, days.base_of(stat))):
            at = begins + timedelta(hours=index)
            if hour.checks and since <= at and at + timedelta(hours=1) <= boundary:
                m, cmd, c, u = hour.counters or (None,) * 4
                points.append((int((at + timedelta(minutes=30)).timestamp()), m, c, u, cmd, hour.average_ms))
    for check in raw:
        if check.checked_at >= boundary:
            m, cmd, c, u = check.counters or (None,) * 4
            points.append((int(check.checked_at.timestamp()), m, c, u, cmd, check.duration_ms))
    return points


# --- The history table -----------------------------------------------------------------------


def _status_filter(rows: QuerySet, status: str | list[str]) -> QuerySet:
    if status == "failed":
        return rows.exclude(status=Status.OK)
    if isinstance(status, list):
        return rows.filter(status__in=status)
    return rows.filter(status=status) if status else rows


def _wanted(status: str | list[str], value: str) -> bool:
    if status == "failed":
        return value != Status.OK
    if isinstance(status, list):
        return value in status
    return not status or value == status


class BotHistory:
    """A bot's history table, newest first: every packed check (with its verification row's details
    where it has one), then the rows kept from before them (changes, and verification rows whose
    hours are gone). Countable and sliceable, as Django's Paginator wants; iterator() streams."""

    def __init__(self, recent: list[HistoryRow], older: QuerySet):
        self.recent = recent
        self.older = older

    def count(self) -> int:
        return len(self.recent) + self.older.count()

    def __len__(self) -> int:
        return self.count()

    def __getitem__(self, key):
        if isinstance(key, int):
            found = self[key : key + 1]
            if not found:
                raise IndexError(key)
            return found[0]
        start, stop = key.start or 0, key.stop
        n = len(self.recent)
        head = self.recent[start:stop]
        rest_start = max(0, start - n)
        rest_stop = None if stop is None else max(0, stop - n)
        if rest_stop is not None and rest_stop <= rest_start:
            return head
        return head + [HistoryRow(**row) for row in self.older[rest_start:rest_stop]]

    def __iter__(self):
        return self.iterator()

    def iterator(self, chunk_size: int = 2000):
        yield from self.recent
        for row in self.older.iterator(chunk_size=chunk_size):
            yield HistoryRow(**row)


def history(
    bot_id: int,
    status: str | list[str] = "",
    *,
    raw: list[Check] | None = None,
    before: datetime | None = None,
    after: datetime | None = None,
) -> BotHistory:
    """The bot's history table, newest first. `status`: "" for all, "failed" for all but OK, one
    status or a list of them; `before`/`after`: only rows checked strictly before/after that moment."""
    raw = bot_checks(bot_id) if raw is None else raw
    boundary = raw_since(raw)
    verifications = Verification.objects.filter(bot_id=bot_id)
    changes = VerificationChange.objects.filter(bot_id=bot_id)
    details = {}
    if boundary is not None:
        # One query: change rows first, then verification rows, which win over their copies.
        kept, whole = (
            source.filter(checked_at__gte=boundary).annotate(kind=Value(n)).order_by().values(*HISTORY_FIELDS, "kind")
            for n, source in enumerate((changes, verifications))
        )
        for row in sorted(kept.union(whole, all=True), key=lambda r: r["kind"]):
            del row["kind"]
            details[checklog.moment_key(row["checked_at"])] = row
    recent = []
    for check in reversed(raw):
        if (before and check.checked_at >= before) or (after and check.checked_at <= after):
            continue
        detail = details.get(checklog.moment_key(check.checked_at))
        row = HistoryRow(**detail) if detail else HistoryRow.of_check(check)
        if _wanted(status, row.status):
            recent.append(row)
    older = []
    for rows in (verifications, changes):
        if boundary is not None:
            rows = rows.filter(checked_at__lt=boundary)
        if before is not None:
            rows = rows.filter(checked_at__lt=before)
        if after is not None:
            rows = rows.filter(checked_at__gt=after)
        older.append(_status_filter(rows, status).order_by().values(*HISTORY_FIELDS))
    return BotHistory(recent, older[0].union(older[1], all=True).order_by("-checked_at"))
