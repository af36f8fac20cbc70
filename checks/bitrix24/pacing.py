"""Per-portal pacing shared by every worker on every machine, kept on the Portal row.

Bitrix24 counts requests per portal and source IP in a leaky bucket (2/s drain, 50 deep on
most plans, reference §3.1) and answers 503 QUERY_LIMIT_EXCEEDED when it overflows; the
customer's own integrations share that bucket. BotWatch therefore paces itself well below
it with GCRA: `pace_next_at` is the theoretical arrival time (TAT) of the next request.
A request may go at max(now, TAT - burst tolerance); reserving it moves TAT one interval
on. The reservation is one UPDATE that computes the new TAT under the row's lock and returns
the slot (no Redis needed); `next_slot` is the same rule in Python, for reading and testing.
"""

import time
from collections.abc import Callable
from datetime import datetime, timedelta

from django.db import connection
from django.utils import timezone

from checks.db import raw_cursor
from checks.models import Portal
from checks.net.deadline import BudgetSpent


def next_slot(tat: datetime | None, now: datetime, rate: float, burst: int) -> tuple[datetime, datetime]:
    """(when this request may go, the new TAT) under GCRA; pure."""
    interval = timedelta(seconds=1.0 / max(rate, 0.001))
    tolerance = interval * (max(burst, 1) - 1)
    tat = max(tat or now, now)
    slot = max(now, tat - tolerance)
    return slot, tat + interval


def reserve_slot(portal_pk: int, now: Callable[[], datetime] = timezone.now) -> datetime:
    """Reserve the next request slot of a portal; returns when to send it."""
    at = now()
    sql = PG_RESERVE.format(table=connection.ops.quote_name(Portal._meta.db_table))
    with connection.wrap_database_errors, raw_cursor() as cursor:
        row = cursor.execute(sql, {"now": at, "id": portal_pk}).fetchone()
    return at if row is None else row[0]


# next_slot in SQL: TAT' = max(TAT, now) + interval, and the slot is TAT' - interval * burst
# (= max(TAT, now) - tolerance), never before now. One round trip per request instead of a
# read and a conditional write; concurrent reservations queue on the row lock.
PG_RESERVE = """
UPDATE {table} SET pace_next_at =
    GREATEST(COALESCE(pace_next_at, %(now)s), %(now)s) + make_interval(secs => 1.0 / GREATEST(pace_rate, 0.001))
WHERE id = %(id)s
RETURNING GREATEST(%(now)s,
    pace_next_at - make_interval(secs => GREATEST(pace_burst, 1) / GREATEST(pace_rate, 0.001)))
"""


def wait_for_slot(
    portal_pk: int, sleep: Callable[[float], None] = time.sleep, *, max_wait: float | None = None
) -> float:
    """Reserve a slot and sleep until it; returns the seconds slept.

    BudgetSpent when the slot lies more than `max_wait` seconds away (the run would end first).
    """
    slot = reserve_slot(portal_pk)
    delay = (slot - timezone.now()).total_seconds()
    if max_wait is not None and delay > max_wait:
        raise BudgetSpent
    if delay > 0:
        sleep(delay)
        return delay
    return 0.0
