"""Many bots' recent checks at once, for list pages: heartbeat bars, counters a day ago, a
portal's newest checks. Each takes the bots as the page loaded them (with their open hours,
checks.history.checklog) and reads as few packed hours as it needs, in a fixed number of queries
whatever the number of bots.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.db import connection
from django.utils import timezone

from checks.history import checklog, days
from checks.history.checklog import Check
from checks.models import Bot, CheckHour, DailyStat, Verification


def open_checks(bot: Bot) -> list[Check]:
    return checklog.decode(bot.hour_checks, bot.hour_start) if bot.hour_start else []


# A bot's newest packed hours, as many as hold `need` checks (a running total of their sizes).
_NEWEST_HOURS = """
SELECT b.id, h.hour, h.data FROM unnest(%s::bigint[], %s::int[]) AS b(id, need)
CROSS JOIN LATERAL (
    SELECT hour, data, sum(octet_length(data)) OVER (ORDER BY hour DESC) AS upto
    FROM {table} WHERE bot_id = b.id ORDER BY hour DESC LIMIT %s
) AS h
WHERE h.upto - octet_length(h.data) < b.need * {size}
"""


def _newest_hours(needs: dict[int, int], most: int) -> list[tuple]:
    """(bot_id, hour, data) of each bot's newest packed hours that hold its `needs` checks (at most `most` hours)."""
    needs = {pk: need for pk, need in needs.items() if need > 0}
    if not needs:
        return []
    sql = _NEWEST_HOURS.format(table=CheckHour._meta.db_table, size=checklog.SIZE)
    with connection.cursor() as cursor:
        cursor.execute(sql, [list(needs), list(needs.values()), most])
        return cursor.fetchall()


def recent_beats(bots: list[Bot], limit: int = 30) -> dict[int, list[dict]]:
    """The last `limit` checks of each bot, oldest first: {bot_id: [{status, at, ms}]}; one query.

    `at` is Unix seconds (the bars only need it for a tooltip)."""
    checks = {bot.pk: open_checks(bot) for bot in bots}
    for bot_id, hour, data in _newest_hours({pk: limit - len(found) for pk, found in checks.items()}, limit):
        checks[bot_id] += checklog.decode(data, hour)
    beats = {}
    for bot_id, found in checks.items():
        found.sort(key=lambda c: c.checked_at)
        beats[bot_id] = [
            {"status": c.status, "at": c.checked_at.timestamp(), "ms": c.duration_ms} for c in found[-limit:]
        ]
    return beats


def counters_before(bots: list[Bot], moment: datetime, hours: int = 4) -> dict[int, dict[str, int]]:
    """Each bot's counters as of its last check with counters at or before `moment`, looked for in
    the `hours` hours before it; one query."""
    found: dict[int, list[Check]] = {bot.pk: open_checks(bot) for bot in bots}
    rows = CheckHour.objects.filter(
        bot_id__in=list(found), hour__gt=moment - timedelta(hours=hours), hour__lte=moment
    ).values_list("bot_id", "hour", "data")
    for bot_id, hour, data in rows:
        found[bot_id] += checklog.decode(data, hour)
    answer = {}
    for bot_id, checks in found.items():
        counted = [c for c in checks if c.counters is not None and c.checked_at <= moment]
        if counted:
            last = max(counted, key=lambda c: c.checked_at)
            answer[bot_id] = dict(zip(checklog.COUNTERS, last.counters, strict=True))
    return answer


def _tally(data: bytes | memoryview | None) -> tuple[int, int]:
    """(checks, good ones) of a packed hour, read from the status byte of each entry alone."""
    statuses = [entry[2] for entry in checklog.entries(data)]
    return len(statuses), statuses.count(checklog.OK_NUMBER)


# Each bot's days in the range as three arrays (days after the first, checks, good ones), one row a
# bot: the folded days from DailyStat, the others summed from the packed hours in place (an
# entry's status is its byte 8; the number of OK is 0), so no hour travels to Python.
_DAYS = """
SELECT bot_id, array_agg(n), array_agg(checks), array_agg(good), array_agg(n) FILTER (WHERE folded) FROM (
    SELECT bot_id, day - %(first)s::date AS n, checks, checks - failures AS good, true AS folded
    FROM {stat} WHERE bot_id = ANY(%(bots)s) AND day BETWEEN %(first)s AND %(last)s
    UNION ALL
    SELECT h.bot_id, (h.hour AT TIME ZONE %(tz)s)::date - %(first)s::date,
        sum(octet_length(h.data) / {size}),
        sum((SELECT count(*) FROM generate_series(0, octet_length(h.data) / {size} - 1) AS i
             WHERE get_byte(h.data, i * {size} + 8) = {ok})), false
    FROM {hour} AS h WHERE h.bot_id = ANY(%(bots)s) AND h.hour >= %(start)s AND h.hour < %(end)s
        AND NOT EXISTS (SELECT 1 FROM {stat} AS d WHERE d.bot_id = h.bot_id
                        AND d.day = (h.hour AT TIME ZONE %(tz)s)::date)
    GROUP BY 1, 2
) AS x GROUP BY bot_id
"""


def daily_tallies(bots: list[Bot], first: date, last: date) -> dict[int, dict[date, tuple[int, int]]]:
    """(checks, good ones) of each bot on each local day from `first` to `last`: {bot_id: {day: pair}}.

    The days folded so far come from DailyStat, the others from the packed hours and the bot's
    open hour (as the bots were loaded, with hour_start and hour_checks); one query whatever the
    number of bots or days. A day without checks is absent."""
    found: dict[int, dict[date, tuple[int, int]]] = {bot.pk: {} for bot in bots}
    quote = connection.ops.quote_name
    sql = _DAYS.format(
        stat=quote(DailyStat._meta.db_table),
        hour=quote(CheckHour._meta.db_table),
        size=checklog.SIZE,
        ok=checklog.OK_NUMBER,
    )
    params = {
        "bots": list(found),
        "first": first,
        "last": last,
        "tz": timezone.get_current_timezone_name(),
        "start": days.day_start(first),
        "end": days.day_start(last + timedelta(days=1)),
    }
    folded: dict[int, set[int]] = {}
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for bot_id, offsets, checks, good, stat_days in cursor.fetchall():
            found[bot_id] = {first + timedelta(days=n): (c, g) for n, c, g in zip(offsets, checks, good, strict=True)}
            folded[bot_id] = set(stat_days or ())
    for bot in bots:
        day = timezone.localdate(bot.hour_start) if bot.hour_start else None
        if day is None or not first <= day <= last or (day - first).days in folded.get(bot.pk, ()):
            continue
        checks, good = _tally(bot.hour_checks)
        before = found[bot.pk].get(day, (0, 0))
        found[bot.pk][day] = (before[0] + checks, before[1] + good)
    return found


@dataclass
class PortalCheck:
    """A line of a portal's recent checks."""

    bot: Bot
    checked_at: datetime
    status: str
    error_code: str
    http_status: int | None
    duration_ms: int
    manual: bool

    @property
    def bot_id(self) -> int:
        return self.bot.pk


# A portal's bots with their open hours, and its newest packed hours since %(first)s: whole hours,
# newest first, until they hold %(need)s bytes of entries (the checks newer than any later one).
_PORTAL_RECENT = """
SELECT 0, b.id, b.code, b.bot_id, b.hour_start, b.hour_checks FROM {bot} AS b WHERE b.portal_id = %(portal)s
UNION ALL
SELECT 1, x.bot_id, '', NULL, x.hour, x.data FROM (
    SELECT h.bot_id, h.hour, h.data,
        sum(length(h.data)) OVER (ORDER BY h.hour DESC) AS upto,
        sum(length(h.data)) OVER (PARTITION BY h.hour) AS this_hour
    FROM {hour} AS h JOIN {bot} AS b ON b.id = h.bot_id
    WHERE b.portal_id = %(portal)s AND h.hour >= %(first)s
) AS x
WHERE x.upto - x.this_hour < %(need)s
"""


def portal_recent(portal_id: int, since: datetime, limit: int = 25) -> list[PortalCheck]:
    """The newest `limit` checks of a portal's bots since `since`, newest first, with their error codes.

    One query for the bots with their open hours and as many packed hours as hold `limit` checks,
    and one more for the error codes when some of those checks failed."""
    quote = connection.ops.quote_name
    sql = _PORTAL_RECENT.format(bot=quote(Bot._meta.db_table), hour=quote(CheckHour._meta.db_table))
    params = {"portal": portal_id, "first": days.hour_start(since), "need": limit * checklog.SIZE}
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    bots, checks = {}, []
    for kind, pk, code, remote, start, data in rows:
        if kind == 0:
            bots[pk] = Bot(pk=pk, portal_id=portal_id, code=code, bot_id=remote)
        if start is not None:
            checks += [(pk, c) for c in checklog.decode(data, start) if c.checked_at >= since]
    checks.sort(key=lambda item: item[1].checked_at, reverse=True)
    checks = checks[:limit]
    errors: dict[int, dict[int, str]] = defaultdict(dict)
    failed = [(pk, c) for pk, c in checks if not c.ok]
    if failed:
        first = min(c.checked_at for _, c in failed)
        rows = Verification.objects.filter(
            bot_id__in={pk for pk, _ in failed}, slot__gte=first - timedelta(days=1), checked_at__gte=first
        ).values_list("bot_id", "checked_at", "error_code")
        for pk, at, code in rows:
            errors[pk][checklog.moment_key(at)] = code
    return [
        PortalCheck(
            bot=bots[pk],
            checked_at=c.checked_at,
            status=c.status,
            error_code="" if c.ok else errors[pk].get(checklog.moment_key(c.checked_at), ""),
            http_status=c.http_status,
            duration_ms=c.duration_ms,
            manual=c.manual,
        )
        for pk, c in checks
    ]
