"""Every check in the bots' packed hours (checks.checklog), and the tallies of /metrics.

A check becomes an entry appended to its bot's open hour (Bot.hour_checks); when a bot's next
check falls in another hour, or the open hour is full, the finished hour moves into a CheckHour
row. On PostgreSQL the recording statement does this (checks.engine.pg); here is the portable
path, the rules both follow, and the hourly job's step that closes the hours of bots no longer
checked.
"""

from collections import Counter
from datetime import datetime, timedelta

from django.db import connection, transaction

from checks import checklog
from checks.db import raw_cursor
from checks.models import Bot, CheckHour, CheckTally, Verification
from checks.status import ResponseFormat, Status


def counters_of_row(row: Verification) -> tuple | None:
    if row.count_message is None:
        return None
    return (row.count_message, row.count_command, row.count_chat, row.count_user)


def is_detailed(row: Verification) -> bool:
    """Whether a check is also written whole as a Verification row: it has something to say that
    its entry cannot hold, or that alerting and the history table read from the row.

    The recording also writes whole a check that alerting must see because the bot was failing
    before (checks.status.needs_alerting), judged under the bot's lock."""
    return bool(
        row.changed
        or row.manual
        or row.by_portal
        or row.status != Status.OK
        or row.error_code
        or row.error_description
        or row.problems
        or row.redirect_url
        or row.response_format != ResponseFormat.EXTENDED
        or row.http_status not in (None, 200)
        or not checklog.storable(counters_of_row(row))
    )


def pack_check(row: Verification, hour: datetime) -> checklog.PackedCheck:
    """A built verification as its entry in the bot's hour `hour` (its local hour)."""
    counters = counters_of_row(row)
    entry = checklog.encode(
        hour=hour,
        checked_at=row.checked_at,
        slot=row.slot,
        status=row.status,
        manual=row.manual,
        by_portal=row.by_portal,
        http_status=row.http_status,
        duration_ms=row.duration_ms,
        event_backlog_s=row.event_backlog_s,
        counters=counters if checklog.storable(counters) else None,
    )
    return checklog.PackedCheck(entry=entry, hour=hour, detailed=is_detailed(row))


def add_check(bot: Bot, packed: checklog.PackedCheck) -> CheckHour | None:
    """Append a check to the bot's open hour (as the recording statement does); returns the
    finished hour to store, if this check closes one."""
    data = bytes(bot.hour_checks or b"")
    closing = None
    if data and bot.hour_start is not None and (bot.hour_start != packed.hour or len(data) >= checklog.OPEN_BYTES):
        closing = CheckHour(bot_id=bot.pk, hour=bot.hour_start, data=data)
    if closing is not None or bot.hour_start != packed.hour:
        data = b""
    bot.hour_checks = data + packed.entry
    bot.hour_start = packed.hour
    return closing


def store_hours(hours: list[CheckHour]) -> None:
    """Write finished hours; one already stored for that bot and hour (a clock behind another
    worker's, or a full open hour) gets these checks appended."""
    if not hours:
        return
    stored = {
        (row.bot_id, row.hour): bytes(row.data)
        for row in CheckHour.objects.filter(bot_id__in={h.bot_id for h in hours}, hour__in={h.hour for h in hours})
    }
    new = []
    for hour in hours:
        before = stored.get((hour.bot_id, hour.hour))
        if before is None:
            new.append(hour)
        else:
            CheckHour.objects.filter(bot_id=hour.bot_id, hour=hour.hour).update(data=before + bytes(hour.data))
    CheckHour.objects.bulk_create(new)


def add_to_tally(portal_id: int, statuses: list[str], at: datetime) -> None:
    """Count a run's checks into its portal's tally (the portable twin of the statement's `tally`)."""
    if not statuses:
        return
    tally, _ = CheckTally.objects.select_for_update().get_or_create(portal_id=portal_id, defaults={"updated_at": at})
    counts = Counter(tally.counts)
    counts.update(str(status) for status in statuses)
    CheckTally.objects.filter(portal_id=portal_id).update(counts=dict(counts), updated_at=max(tally.updated_at, at))


# The hourly job: bots whose open hour ended before `before` (no longer checked, or not since)
# have it moved into CheckHour. A bot being recorded right now is skipped (its own check closes
# the hour); the lock makes sure no check appended meanwhile is left behind.
CLOSE_IDLE = """
WITH lk AS (
    SELECT id, hour_checks, hour_start FROM {bot}
    WHERE hour_start < %(before)s ORDER BY id FOR NO KEY UPDATE SKIP LOCKED
),
ins AS (
    INSERT INTO {hour} AS h (bot_id, hour, data)
    SELECT id, hour_start, hour_checks FROM lk WHERE octet_length(hour_checks) > 0
    ON CONFLICT (bot_id, hour) DO UPDATE SET data = h.data || EXCLUDED.data
)
UPDATE {bot} AS b SET hour_checks = ''::bytea, hour_start = NULL FROM lk WHERE b.id = lk.id
"""


def close_idle_hours(now: datetime, settle: timedelta) -> int:
    """Move every open hour that ended `settle` ago or earlier into CheckHour; returns how many."""
    before = now - settle - timedelta(hours=1)
    if connection.vendor == "postgresql":
        quote = connection.ops.quote_name
        sql = CLOSE_IDLE.format(bot=quote(Bot._meta.db_table), hour=quote(CheckHour._meta.db_table))
        with connection.wrap_database_errors, raw_cursor() as cursor:
            cursor.execute(sql, {"before": before})
            return cursor.rowcount
    with transaction.atomic():
        idle = list(Bot.objects.filter(hour_start__lt=before).values_list("pk", "hour_start", "hour_checks"))
        store_hours([CheckHour(bot_id=pk, hour=start, data=bytes(data)) for pk, start, data in idle if data])
        Bot.objects.filter(pk__in=[pk for pk, _, _ in idle]).update(hour_checks=b"", hour_start=None)
    return len(idle)
