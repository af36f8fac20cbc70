"""History retention: raw history for BOTWATCH_RAW_HISTORY_HOURS, the rest for BOTWATCH_HISTORY_DAYS.

The hourly history job (prune_history), in this order, so that nothing is dropped unfolded:
1. creates the raw tables' partitions for the next days;
2. moves the open hours of bots no longer checked into CheckHour (checks.history.hours);
3. folds every complete day into one DailyStat row per bot, with each hour packed
   (checks.history.days), before any of its checks can go; a day is complete SETTLE after its end,
   when the runs that checked in its last moments have been recorded;
4. copies the verification rows that changed something into VerificationChange, clears the
   bots' pointers to the rows about to go, and drops whole day partitions of verifications and
   packed hours older than the raw window (rows in the default partitions are deleted);
5. deletes change rows and daily aggregates older than BOTWATCH_HISTORY_DAYS.
Every step is idempotent: a job interrupted anywhere is finished by the next one.
"""

import logging
from datetime import date, datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Max, Min
from django.utils import timezone

from checks.history import checklog, days, partitions
from checks.history.hours import close_idle_hours
from checks.models import Bot, CheckHour, DailyStat, Verification, VerificationChange
from checks.models.history import CHANGE_FIELDS

log = logging.getLogger(__name__)

DELETE_BATCH = 5000
FETCH_BATCH = 10000
BOT_CHUNK = 1000  # bots folded at once: a day of their hours is read in one query
COUNTER_FIELDS = list(days.COUNTERS)
# How long after a moment every check made before it is recorded (a run records within
# seconds of its checks; the claim's lease bounds the worst case far above this in theory,
# but a run that late is also too late for its slot and rare).
SETTLE = timedelta(minutes=2)


def day_bounds(day: date) -> tuple[datetime, datetime]:
    return days.day_start(day), days.day_start(day + timedelta(days=1))


def fold_hours(day: date, pieces: list[tuple[datetime, bytes]]) -> list[days.Hour]:
    """A bot's day as DailyStat keeps it, from its packed hours (start, data) within that day."""
    start = days.day_start(day)
    size = days.hours_in(day)
    hours = [days.Hour() for _ in range(size)]
    counted_at = [None] * size  # when each hour's counters were seen (entries may be out of order)
    for begins, data in pieces:
        offset = int((begins - start).total_seconds() * 1000)
        for at_ms, _late, status, _flags, _http, duration, _backlog, *counters in checklog.entries(data):
            at = offset + at_ms
            index = min(size - 1, max(0, at // 3_600_000))
            hour = hours[index]
            hour.checks += 1
            hour.failures += status != checklog.OK_NUMBER
            hour.total_ms += duration
            if counters[0] != checklog.NONE and (counted_at[index] is None or at >= counted_at[index]):
                hour.counters, counted_at[index] = tuple(counters), at
    return hours


def aggregate_day(day: date, *, only_missing: bool = False) -> int:
    """Write (or rewrite) the DailyStat rows of one day from its packed hours; returns rows written."""
    start, end = day_bounds(day)
    skip = set(DailyStat.objects.filter(day=day).values_list("bot_id", flat=True)) if only_missing else set()
    # Hours still open on a bot's row (being recorded when the idle ones were closed).
    still_open = {
        pk: (begins, bytes(data))
        for pk, begins, data in Bot.objects.filter(hour_start__gte=start, hour_start__lt=end).values_list(
            "pk", "hour_start", "hour_checks"
        )
    }
    bounds = Bot.objects.aggregate(low=Min("pk"), high=Max("pk"))
    written = 0
    if bounds["low"] is None:
        return 0
    for low in range(bounds["low"], bounds["high"] + 1, BOT_CHUNK):
        rows = (
            CheckHour.objects.filter(bot_id__gte=low, bot_id__lt=low + BOT_CHUNK, hour__gte=start, hour__lt=end)
            .order_by("bot_id", "hour")
            .values_list("bot_id", "hour", "data")
        )
        by_bot: dict[int, list[tuple[datetime, bytes]]] = {}
        for bot_id, begins, data in rows:
            by_bot.setdefault(bot_id, []).append((begins, bytes(data)))
        for pk, piece in still_open.items():
            if low <= pk < low + BOT_CHUNK:
                by_bot.setdefault(pk, []).append(piece)
        stats = [daily_stat(day, pk, fold_hours(day, pieces)) for pk, pieces in by_bot.items() if pk not in skip]
        DailyStat.objects.bulk_create(
            stats,
            update_conflicts=True,
            unique_fields=["bot", "day"],
            update_fields=["checks", "failures", "total_duration_ms", "hours", *COUNTER_FIELDS],
            batch_size=1000,
        )
        written += len(stats)
    return written


def daily_stat(day: date, bot_id: int, hours: list[days.Hour]) -> DailyStat:
    last = next((h.counters for h in reversed(hours) if h.counters is not None), None)
    return DailyStat(
        bot_id=bot_id,
        day=day,
        checks=sum(h.checks for h in hours),
        failures=sum(h.failures for h in hours),
        total_duration_ms=sum(h.total_ms for h in hours),
        hours=days.pack(hours, last),
        **dict(zip(COUNTER_FIELDS, last or (None,) * 4, strict=True)),
    )


def cutoff_day(now: datetime) -> date:
    """The first day whose aggregates and changes are kept: whole days go, never part of one."""
    return timezone.localdate(now) - timedelta(days=settings.BOTWATCH_HISTORY_DAYS)


def raw_cutoff(now: datetime) -> datetime:
    """Raw history (packed hours, verification rows) of times before this goes."""
    return now - timedelta(hours=settings.BOTWATCH_RAW_HISTORY_HOURS)


def last_complete_day(now: datetime) -> date:
    return timezone.localdate(now - SETTLE) - timedelta(days=1)


def aggregate_recent(now: datetime) -> int:
    """Fold every complete day since the last folded one (at most the retained ones)."""
    yesterday = last_complete_day(now)
    last = DailyStat.objects.aggregate(day=Max("day"))["day"]
    cutoff = cutoff_day(now)
    if last is None:  # nothing folded yet: from the oldest packed hour
        oldest = CheckHour.objects.aggregate(hour=Min("hour"))["hour"]
        last = timezone.localdate(oldest) - timedelta(days=1) if oldest else yesterday
    first = max(last + timedelta(days=1), cutoff)
    written, day = 0, first
    while day <= yesterday:
        written += aggregate_day(day)
        day += timedelta(days=1)
    return written


def prune_history(now: datetime | None = None) -> dict[str, int]:
    """The hourly history job (see the module's docstring); returns what it did."""
    now = now or timezone.now()
    partitions.ensure_partitions(now)
    closed = close_idle_hours(now, SETTLE)
    aggregated = aggregate_recent(now)
    cutoff = raw_cutoff(now)
    hours_leaving = partitions.HOURS.leaving_before(cutoff)
    # Complete days nobody folded yet (beat was down when they completed): their hours are all
    # still here, so fold them now. A day whose dropping was interrupted already has stats
    # and is left alone, since its remaining hours would undercount it.
    last_complete = last_complete_day(now)
    for day in CheckHour.objects.filter(hour__lt=hours_leaving).dates("hour", "day"):
        if day <= last_complete:
            aggregated += aggregate_day(day, only_missing=True)
    dropped, deleted = drop_raw_before(cutoff)
    old = cutoff_day(now)
    changes_deleted, _ = VerificationChange.objects.filter(checked_at__lt=day_bounds(old)[0]).delete()
    stats_deleted, _ = DailyStat.objects.filter(day__lt=old).delete()
    log.info(
        "history: %d open hours closed, %d daily stats written, %d partitions dropped, %d raw rows deleted, "
        "%d changes and %d daily stats past retention deleted",
        closed, aggregated, dropped, deleted, changes_deleted, stats_deleted,
    )  # fmt: skip
    return {"closed": closed, "aggregated": aggregated, "dropped": dropped, "deleted": deleted}


def keep_changes(rows) -> int:
    """Copy the raw rows of `rows` that changed something into VerificationChange (once each)."""
    kept = 0
    changed = rows.filter(changed=True).order_by("pk").values_list("pk", *CHANGE_FIELDS)
    batch: list[VerificationChange] = []
    for pk, *values in changed.iterator(chunk_size=FETCH_BATCH):
        batch.append(VerificationChange(verification_id=pk, **dict(zip(CHANGE_FIELDS, values, strict=True))))
        if len(batch) >= FETCH_BATCH:
            kept += len(VerificationChange.objects.bulk_create(batch, ignore_conflicts=True))
            batch = []
    if batch:
        kept += len(VerificationChange.objects.bulk_create(batch, ignore_conflicts=True))
    return kept


def release_pointers(rows) -> None:
    """Bots stop pointing at raw rows about to go (the pointers have no constraint to do it)."""
    ids = rows.values("pk")
    Bot.objects.filter(last_verification__in=ids).update(last_verification=None)
    Bot.objects.filter(last_ok_verification__in=ids).update(last_ok_verification=None)


def drop_raw_before(cutoff: datetime) -> tuple[int, int]:
    """(partitions dropped, rows deleted): verifications of slots and packed hours before `cutoff` go,
    changes kept. A day partition goes whole once its last key is past `cutoff`; the rows of the
    partition `cutoff` falls in wait for it."""
    dropped = deleted = 0
    verifications_cutoff = partitions.VERIFICATIONS.leaving_before(cutoff)
    for day, name in partitions.VERIFICATIONS.expired(verifications_cutoff):
        start, end = partitions.day_bounds_utc(day)
        rows = Verification.objects.filter(slot__gte=start, slot__lt=end)
        keep_changes(rows)
        release_pointers(rows)
        dropped += partitions.drop(name)
    hours_cutoff = partitions.HOURS.leaving_before(cutoff)
    for _day, name in partitions.HOURS.expired(hours_cutoff):
        dropped += partitions.drop(name)
    # The default partitions' keys before every day partition.
    deleted += CheckHour.objects.filter(hour__lt=hours_cutoff).delete()[0]
    return dropped, deleted + delete_before(verifications_cutoff)


def delete_before(cutoff: datetime, batch: int = DELETE_BATCH) -> int:
    deleted = 0
    while True:
        with transaction.atomic():
            ids = list(
                Verification.objects.filter(slot__lt=cutoff).order_by("slot").values_list("pk", flat=True)[:batch]
            )
            if not ids:
                return deleted
            rows = Verification.objects.filter(pk__in=ids)
            keep_changes(rows)
            # Through the ORM, which also sets Bot.last_verification/last_ok_verification to NULL.
            rows.delete()
        deleted += len(ids)
