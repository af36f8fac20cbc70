"""Reading a bot's history across its three stores (checks.models.history).

Raw verifications cover the last day or two; before them, DailyStat rows (with their hours) and
the change rows. Uptime is counted from DailyStat for the days folded so far and from the raw
rows after them, so it is exact over any whole local hours, whichever store a check is in now.
"""

from datetime import date, datetime, timedelta

from django.db.models import Count, Q
from django.utils import timezone

from checks import hourly
from checks.models import DailyStat, Verification, VerificationChange
from checks.models.history import CHANGE_FIELDS
from checks.status import Status

HISTORY_FIELDS = [name for name in CHANGE_FIELDS if name not in ("bot_id", "portal_id")]


def window_start(now: datetime, hours: int) -> datetime:
    """Uptime windows start on a local hour boundary: the hour `hours` hours ago began."""
    return hourly.hour_start(now - timedelta(hours=hours))


def _stats(bot_id: int, first_day: date):
    return DailyStat.objects.filter(bot_id=bot_id, day__gte=first_day).order_by("day")


def uptime_counts(bot_id: int, *starts: datetime) -> list[tuple[int, int]]:
    """(checks, good ones) since each of `starts`, local hour boundaries, in their order: two queries."""
    first = min(starts)
    stats = list(_stats(bot_id, timezone.localdate(first)))
    # The days folded so far for this bot end here; the raw rows after it count for themselves.
    folded_until = max([first, *(hourly.day_start(s.day + timedelta(days=1)) for s in stats)])
    totals = []
    for start in starts:
        checks = good = 0
        for stat in stats:
            begins = hourly.day_start(stat.day)
            if hourly.day_start(stat.day + timedelta(days=1)) <= start:
                continue
            if begins >= start or not stat.hours:
                # A whole day in the window (or one folded before hours were kept: counted whole).
                checks, good = checks + stat.checks, good + stat.checks - stat.failures
                continue
            skip = int((start - begins).total_seconds() // 3600)
            for hour in hourly.unpack(stat.hours, None)[skip:]:
                checks, good = checks + hour.checks, good + hour.checks - hour.failures
        totals.append([checks, good])
    raw = Verification.objects.filter(bot_id=bot_id, checked_at__gte=folded_until)
    counts = raw.aggregate(
        **{f"n{i}": Count("id", filter=Q(checked_at__gte=start)) for i, start in enumerate(starts)},
        **{f"ok{i}": Count("id", filter=Q(checked_at__gte=start, status=Status.OK)) for i, start in enumerate(starts)},
    )
    return [(checks + counts[f"n{i}"], good + counts[f"ok{i}"]) for i, (checks, good) in enumerate(totals)]


def uptimes(bot_id: int, windows: list[int], now: datetime | None = None) -> list[float | None]:
    """The share of good checks since the local hour each window's hours ago began; None without checks."""
    now = now or timezone.now()
    pairs = uptime_counts(bot_id, *(window_start(now, hours) for hours in windows))
    return [good / checks if checks else None for checks, good in pairs]


def uptime(bot_id: int, hours: int, now: datetime | None = None) -> float | None:
    return uptimes(bot_id, [hours], now)[0]


def raw_since(bot_id: int) -> datetime | None:
    """When the bot's oldest raw verification was made (the raw rows cover the time after it)."""
    first = Verification.objects.filter(bot_id=bot_id).order_by("slot").values_list("checked_at", flat=True)[:1]
    return first[0] if first else None


def chart_points(bot_id: int, since: datetime) -> list[tuple]:
    """(Unix seconds, countMessage, countChat, countUser, countCommand, latency ms) since `since`:
    every raw verification, and one point an hour (at its middle) before the raw rows begin."""
    oldest = raw_since(bot_id)
    stats = list(_stats(bot_id, timezone.localdate(since))) if oldest is None or oldest > since else []
    folded_until = hourly.day_start(stats[-1].day + timedelta(days=1)) if stats else since
    # Hours up to the first whole hour of raw rows (never past the folded days); raw rows after.
    boundary = folded_until if oldest is None else min(folded_until, hourly.hour_start(oldest) + timedelta(hours=1))
    boundary = max(boundary, since)
    points = []
    for stat in stats:
        begins = hourly.day_start(stat.day)
        for index, hour in enumerate(hourly.unpack(stat.hours, hourly.base_of(stat))):
            at = begins + timedelta(hours=index)
            if hour.checks and since <= at and at + timedelta(hours=1) <= boundary:
                m, cmd, c, u = hour.counters or (None,) * 4
                points.append((int((at + timedelta(minutes=30)).timestamp()), m, c, u, cmd, hour.average_ms))
    rows = (
        Verification.objects.filter(bot_id=bot_id, checked_at__gte=boundary)
        .order_by("checked_at")
        .values_list("checked_at", "count_message", "count_chat", "count_user", "count_command", "duration_ms")
    )
    points += [(int(r[0].timestamp()), *r[1:]) for r in rows]
    return points


def history(bot_id: int, status: str = ""):
    """The bot's history table, newest first: its raw verifications, then the changes kept before them.

    `status`: "" for all, "failed" for all but OK, or one status."""
    raw = Verification.objects.filter(bot_id=bot_id)
    changes = VerificationChange.objects.filter(bot_id=bot_id)
    if status == "failed":
        raw, changes = raw.exclude(status=Status.OK), changes.exclude(status=Status.OK)
    elif status:
        raw, changes = raw.filter(status=status), changes.filter(status=status)
    return (
        raw.order_by()
        .values(*HISTORY_FIELDS)
        .union(changes.order_by().values(*HISTORY_FIELDS), all=True)
        .order_by("-checked_at")
    )
