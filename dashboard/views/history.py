"""Per-bot history for list pages, each in ONE query whatever the number of bots.

PostgreSQL walks the (bot, -checked_at) index once per bot with a LATERAL join, which stays
fast with months of history; other databases use a window function over the same rows.
"""

from collections import defaultdict
from datetime import datetime

from django.db import connection
from django.db.models import F, Window
from django.db.models.functions import RowNumber

from checks.models import Verification

COUNTER_FIELDS = ("count_message", "count_chat", "count_user", "count_command")

_RECENT_SQL = """
SELECT b.id, v.status, extract(epoch FROM v.checked_at)::float8, v.duration_ms
FROM unnest(%s::bigint[]) AS b(id)
CROSS JOIN LATERAL (
    SELECT status, checked_at, duration_ms FROM {table}
    WHERE bot_id = b.id ORDER BY slot DESC LIMIT %s
) v
"""

_BEFORE_SQL = """
SELECT b.id, v.count_message, v.count_chat, v.count_user, v.count_command
FROM unnest(%s::bigint[]) AS b(id)
CROSS JOIN LATERAL (
    SELECT count_message, count_chat, count_user, count_command FROM {table}
    WHERE bot_id = b.id AND checked_at <= %s AND count_message IS NOT NULL
    ORDER BY slot DESC LIMIT 1
) v
"""


def _is_postgres() -> bool:
    return connection.vendor == "postgresql"


def recent_beats(bot_ids: list[int], limit: int = 30) -> dict[int, list[dict]]:
    """The last `limit` verifications of each bot, oldest first: {bot_id: [{status, at, ms}]}.

    `at` is Unix seconds: loading 1,500 timestamps through Django's timezone-aware loader
    cost more than the whole query, and the bars only need them for a tooltip.
    """
    beats: dict[int, list[dict]] = defaultdict(list)
    if not bot_ids:
        return beats
    if _is_postgres():
        with connection.cursor() as cursor:
            cursor.execute(_RECENT_SQL.format(table=Verification._meta.db_table), [list(bot_ids), limit])
            rows = cursor.fetchall()
    else:
        rows = (
            Verification.objects.filter(bot_id__in=bot_ids)
            .annotate(rn=Window(RowNumber(), partition_by=F("bot_id"), order_by=F("checked_at").desc()))
            .filter(rn__lte=limit)
            .values_list("bot_id", "status", "checked_at", "duration_ms")
        )
    for bot_id, status, checked_at, duration_ms in rows:
        at = checked_at if isinstance(checked_at, float) else checked_at.timestamp()
        beats[bot_id].append({"status": status, "at": at, "ms": duration_ms})
    for items in beats.values():
        items.sort(key=lambda b: b["at"])
    return beats


def counters_before(bot_ids: list[int], moment: datetime) -> dict[int, dict[str, int]]:
    """Each bot's counters as of its last extended answer at or before `moment`."""
    if not bot_ids:
        return {}
    if _is_postgres():
        with connection.cursor() as cursor:
            cursor.execute(_BEFORE_SQL.format(table=Verification._meta.db_table), [list(bot_ids), moment])
            rows = cursor.fetchall()
    else:
        rows = (
            Verification.objects.filter(bot_id__in=bot_ids, checked_at__lte=moment, count_message__isnull=False)
            .annotate(rn=Window(RowNumber(), partition_by=F("bot_id"), order_by=F("checked_at").desc()))
            .filter(rn=1)
            .values_list("bot_id", *COUNTER_FIELDS)
        )
    return {row[0]: dict(zip(COUNTER_FIELDS, row[1:], strict=True)) for row in rows}
