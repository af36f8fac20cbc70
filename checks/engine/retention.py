"""History retention: verifications older than BOTWATCH_HISTORY_DAYS go, daily aggregates stay.

Every complete day is folded into one DailyStat row per bot (checks, failures, total
duration, the day's last counters) before any of its verifications can be pruned, so
long-range charts and uptime survive the pruning. Deletion runs in small batches so that
it never holds long locks on the table the workers write to.
"""

import logging
from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Max, Q, Sum
from django.utils import timezone

from checks.models import DailyStat, Verification
from checks.status import Status

log = logging.getLogger(__name__)

DELETE_BATCH = 5000


def day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time.min, tzinfo=timezone.get_current_timezone())
    return start, start + timedelta(days=1)


def aggregate_day(day: date, *, only_missing: bool = False) -> int:
    """Write (or rewrite) the DailyStat rows of one day from its verifications; returns rows written."""
    start, end = day_bounds(day)
    rows = Verification.objects.filter(checked_at__gte=start, checked_at__lt=end)
    if only_missing:
        rows = rows.exclude(bot__daily_stats__day=day)
    per_bot = list(
        rows.order_by()
        .values("bot_id")
        .annotate(
            checks=Count("id"),
            failures=Count("id", filter=~Q(status=Status.OK)),
            total=Sum("duration_ms"),
            last_counted=Max("id", filter=Q(count_message__isnull=False)),
        )
    )
    counters = {
        v["id"]: v
        for v in Verification.objects.filter(pk__in=[p["last_counted"] for p in per_bot if p["last_counted"]]).values(
            "id", "count_message", "count_command", "count_chat", "count_user"
        )
    }
    stats = [daily_stat(day, p, counters.get(p["last_counted"], {})) for p in per_bot]
    DailyStat.objects.bulk_create(
        stats,
        update_conflicts=True,
        unique_fields=["bot", "day"],
        update_fields=["checks", "failures", "total_duration_ms", *COUNTER_FIELDS],
        batch_size=1000,
    )
    return len(stats)


COUNTER_FIELDS = ["count_message", "count_command", "count_chat", "count_user"]


def daily_stat(day: date, agg: dict, counters: dict) -> DailyStat:
    return DailyStat(
        bot_id=agg["bot_id"],
        day=day,
        checks=agg["checks"],
        failures=agg["failures"],
        total_duration_ms=agg["total"] or 0,
        **{name: counters.get(name) for name in COUNTER_FIELDS},
    )


def cutoff_day(now: datetime) -> date:
    """The first day kept: whole days are pruned, never part of one."""
    return timezone.localdate(now) - timedelta(days=settings.BOTWATCH_HISTORY_DAYS)


def aggregate_recent(now: datetime) -> int:
    """Fold every complete day since the last aggregated one (at most the retained ones)."""
    yesterday = timezone.localdate(now) - timedelta(days=1)
    last = DailyStat.objects.aggregate(day=Max("day"))["day"]
    cutoff = cutoff_day(now)
    first = max(last or cutoff, cutoff)
    written, day = 0, first
    while day <= yesterday:
        written += aggregate_day(day)
        day += timedelta(days=1)
    return written


def prune_history(now: datetime | None = None) -> dict[str, int]:
    """The daily retention job: aggregate, then delete verifications older than the cutoff."""
    now = now or timezone.now()
    aggregated = aggregate_recent(now)
    cutoff, _ = day_bounds(cutoff_day(now))
    old = Verification.objects.filter(checked_at__lt=cutoff)
    # Days nobody aggregated yet (beat was down when they completed): their rows are all
    # still here, so fold them now. A day whose pruning was interrupted already has stats
    # and is left alone, since its remaining rows would undercount it.
    for day in old.dates("checked_at", "day"):
        aggregated += aggregate_day(day, only_missing=True)
    deleted = delete_before(cutoff)
    log.info("retention: %d daily stats written, %d verifications deleted", aggregated, deleted)
    return {"aggregated": aggregated, "deleted": deleted}


def delete_before(cutoff: datetime, batch: int = DELETE_BATCH) -> int:
    deleted = 0
    while True:
        with transaction.atomic():
            ids = list(
                Verification.objects.filter(checked_at__lt=cutoff)
                .order_by("checked_at")
                .values_list("pk", flat=True)[:batch]
            )
            if not ids:
                return deleted
            # Through the ORM so that Bot.last_verification/last_ok_verification are set to NULL.
            Verification.objects.filter(pk__in=ids).delete()
        deleted += len(ids)
