"""History retention: raw verifications for BOTWATCH_RAW_HISTORY_HOURS, the rest for BOTWATCH_HISTORY_DAYS.

The hourly history job (prune_history), in this order, so that nothing is dropped unfolded:
1. creates the raw table's partitions for the next days (PostgreSQL);
2. folds every complete day into one DailyStat row per bot, with each hour packed
   (checks.hourly), before any of its raw rows can go;
3. counts the raw rows into the running totals of /metrics (checks.tally);
4. copies the raw rows that changed something into VerificationChange, clears the bots'
   pointers to the rows about to go, and drops whole day partitions older than the raw
   window (PostgreSQL; on SQLite, and for the default partition, it deletes in batches);
5. deletes change rows and daily aggregates older than BOTWATCH_HISTORY_DAYS.
Every step is idempotent: a job interrupted anywhere is finished by the next one.
"""

import logging
from collections import defaultdict
from datetime import date, datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Max, Q, Sum
from django.db.models.functions import TruncHour
from django.utils import timezone

from checks import hourly, tally
from checks.engine import partitions
from checks.models import Bot, DailyStat, Verification, VerificationChange
from checks.models.history import CHANGE_FIELDS
from checks.status import Status

log = logging.getLogger(__name__)

DELETE_BATCH = 5000
FETCH_BATCH = 10000
COUNTER_FIELDS = list(hourly.COUNTERS)


def day_bounds(day: date) -> tuple[datetime, datetime]:
    return hourly.day_start(day), hourly.day_start(day + timedelta(days=1))


def aggregate_day(day: date, *, only_missing: bool = False, models=(Verification, DailyStat)) -> int:
    """Write (or rewrite) the DailyStat rows of one day from its raw verifications; returns rows written.

    `models`: the Verification and DailyStat classes (the migration that converts history gives
    its historical ones)."""
    verification, daily = models
    start, end = day_bounds(day)
    rows = verification.objects.filter(checked_at__gte=start, checked_at__lt=end)
    if only_missing:
        rows = rows.exclude(bot__daily_stats__day=day)
    per_hour = list(
        rows.order_by()
        .annotate(hour=TruncHour("checked_at"))
        .values("bot_id", "hour")
        .annotate(
            checks=Count("id"),
            failures=Count("id", filter=~Q(status=Status.OK)),
            total=Sum("duration_ms"),
            last_counted=Max("id", filter=Q(count_message__isnull=False)),
        )
    )
    counters = _counters_of(verification, [p["last_counted"] for p in per_hour if p["last_counted"]])
    size = hourly.hours_in(day)
    by_bot: dict[int, list[hourly.Hour]] = defaultdict(lambda: [hourly.Hour() for _ in range(size)])
    for p in per_hour:
        index = min(size - 1, max(0, int((p["hour"] - start).total_seconds() // 3600)))
        hour = by_bot[p["bot_id"]][index]
        hour.checks += p["checks"]
        hour.failures += p["failures"]
        hour.total_ms += p["total"] or 0
        hour.counters = counters.get(p["last_counted"]) or hour.counters
    stats = [daily_stat(daily, day, bot_id, hours) for bot_id, hours in by_bot.items()]
    daily.objects.bulk_create(
        stats,
        update_conflicts=True,
        unique_fields=["bot", "day"],
        update_fields=["checks", "failures", "total_duration_ms", "hours", *COUNTER_FIELDS],
        batch_size=1000,
    )
    return len(stats)


def _counters_of(verification, ids: list[int]) -> dict[int, tuple]:
    found = {}
    for i in range(0, len(ids), FETCH_BATCH):
        for pk, *values in verification.objects.filter(pk__in=ids[i : i + FETCH_BATCH]).values_list(
            "pk", *COUNTER_FIELDS
        ):
            found[pk] = tuple(values)
    return found


def daily_stat(daily, day: date, bot_id: int, hours: list[hourly.Hour]) -> DailyStat:
    last = next((h.counters for h in reversed(hours) if h.counters is not None), None)
    return daily(
        bot_id=bot_id,
        day=day,
        checks=sum(h.checks for h in hours),
        failures=sum(h.failures for h in hours),
        total_duration_ms=sum(h.total_ms for h in hours),
        hours=hourly.pack(hours, last),
        **dict(zip(COUNTER_FIELDS, last or (None,) * 4, strict=True)),
    )


def cutoff_day(now: datetime) -> date:
    """The first day whose aggregates and changes are kept: whole days go, never part of one."""
    return timezone.localdate(now) - timedelta(days=settings.BOTWATCH_HISTORY_DAYS)


def raw_cutoff(now: datetime) -> datetime:
    """Raw verifications of slots before this go."""
    return now - timedelta(hours=settings.BOTWATCH_RAW_HISTORY_HOURS)


def aggregate_recent(now: datetime) -> int:
    """Fold every complete day since the last folded one (at most the retained ones)."""
    yesterday = timezone.localdate(now) - timedelta(days=1)
    last = DailyStat.objects.aggregate(day=Max("day"))["day"]
    cutoff = cutoff_day(now)
    if last is None:  # nothing folded yet: from the oldest raw row (ids grow with time)
        oldest = Verification.objects.order_by("pk").values_list("checked_at", flat=True).first()
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
    if partitions.is_partitioned():
        partitions.ensure_partitions(now)
    aggregated = aggregate_recent(now)
    cutoff = leaving_before(raw_cutoff(now))
    leaving = Verification.objects.filter(slot__lt=cutoff)
    # Complete days nobody folded yet (beat was down when they completed): their rows are all
    # still here, so fold them now. A day whose dropping was interrupted already has stats
    # and is left alone, since its remaining rows would undercount it.
    last_complete = timezone.localdate(now) - timedelta(days=1)
    for day in leaving.dates("checked_at", "day"):
        if day <= last_complete:
            aggregated += aggregate_day(day, only_missing=True)
    tally.verification_totals(now)
    dropped, deleted = drop_raw_before(cutoff)
    old = cutoff_day(now)
    changes_deleted, _ = VerificationChange.objects.filter(checked_at__lt=day_bounds(old)[0]).delete()
    stats_deleted, _ = DailyStat.objects.filter(day__lt=old).delete()
    log.info(
        "history: %d daily stats written, %d partitions dropped, %d raw rows deleted, %d changes and %d "
        "daily stats past retention deleted",
        aggregated, dropped, deleted, changes_deleted, stats_deleted,
    )  # fmt: skip
    return {"aggregated": aggregated, "dropped": dropped, "deleted": deleted}


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


def leaving_before(cutoff: datetime) -> datetime:
    """The raw rows of slots before this go now: on PostgreSQL a day partition goes whole once its
    last slot is past `cutoff` (the rows of the partition `cutoff` falls in wait for it)."""
    if not partitions.is_partitioned():
        return cutoff
    staying = [day for day in partitions.partitions() if partitions.day_bounds_utc(day)[1] > cutoff]
    return min(cutoff, partitions.day_bounds_utc(min(staying))[0]) if staying else cutoff


def drop_raw_before(cutoff: datetime) -> tuple[int, int]:
    """(partitions dropped, rows deleted): the raw rows of slots before `cutoff` go, changes kept.

    `cutoff` is a leaving_before() answer: on PostgreSQL the start of a partition or earlier."""
    dropped = 0
    if partitions.is_partitioned():
        for day, name in partitions.expired(cutoff):
            start, end = partitions.day_bounds_utc(day)
            rows = Verification.objects.filter(slot__gte=start, slot__lt=end)
            keep_changes(rows)
            release_pointers(rows)
            dropped += partitions.drop(name)
    # SQLite, and on PostgreSQL the default partition's slots before every day partition.
    return dropped, delete_before(cutoff)


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
