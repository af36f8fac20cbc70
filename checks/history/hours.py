"""Every check in the bots' packed hours (checks.history.checklog), and the tallies of /metrics.

A check becomes an entry appended to its bot's open hour (Bot.hour_checks); when a bot's next
check falls in another hour, or the open hour is full, the finished hour moves into a CheckHour
row. The recording statement does this (checks.engine.pg); here are the entries it appends,
the rule for which checks are also whole rows, and the hourly job's step that closes the hours
of bots no longer checked.
"""

from datetime import datetime, timedelta

from django.db import connection

from checks.db import raw_cursor
from checks.history import checklog
from checks.models import Bot, CheckHour, Verification
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
    quote = connection.ops.quote_name
    sql = CLOSE_IDLE.format(bot=quote(Bot._meta.db_table), hour=quote(CheckHour._meta.db_table))
    with connection.wrap_database_errors, raw_cursor() as cursor:
        cursor.execute(sql, {"before": before})
        return cursor.rowcount
