"""Per-portal pacing shared by every worker on every machine, kept on the Portal row.

Bitrix24 counts requests per portal and source IP in a leaky bucket (2/s drain, 50 deep on
most plans, reference §3.1) and answers 503 QUERY_LIMIT_EXCEEDED when it overflows; the
customer's own integrations share that bucket. BotWatch therefore paces itself well below
it with GCRA: `pace_next_at` is the theoretical arrival time (TAT) of the next request.
A request may go at max(now, TAT - burst tolerance); reserving it moves TAT one interval
on. The reservation is a conditional UPDATE on the value read, so it works on SQLite and
PostgreSQL alike, without Redis and without row locks.
"""

import time
from collections.abc import Callable
from datetime import datetime, timedelta

from django.db import connection
from django.utils import timezone

from checks.engine_pg import raw_cursor
from checks.models import Portal

MAX_ATTEMPTS = 100


def next_slot(tat: datetime | None, now: datetime, rate: float, burst: int) -> tuple[datetime, datetime]:
    """(when this request may go, the new TAT) under GCRA; pure."""
    interval = timedelta(seconds=1.0 / max(rate, 0.001))
    tolerance = interval * (max(burst, 1) - 1)
    tat = max(tat or now, now)
    slot = max(now, tat - tolerance)
    return slot, tat + interval


def reserve_slot(portal_pk: int, now: Callable[[], datetime] = timezone.now) -> datetime:
    """Reserve the next request slot of a portal; returns when to send it."""
    read, write = (_read_pg, _write_pg) if connection.vendor == "postgresql" else (_read, _write)
    for _ in range(MAX_ATTEMPTS):
        row = read(portal_pk)
        if row is None:
            return now()
        tat, rate, burst = row
        slot, new_tat = next_slot(tat, now(), rate, burst)
        # Only if no other worker reserved in between; else read again and retry.
        if write(portal_pk, tat, new_tat):
            return slot
    # Constant contention for this row: go on rather than stall; Bitrix24's bucket is deeper.
    return now()


def _read(portal_pk: int) -> tuple | None:
    return Portal.objects.filter(pk=portal_pk).values_list("pace_next_at", "pace_rate", "pace_burst").first()


def _write(portal_pk: int, tat: datetime | None, new_tat: datetime) -> bool:
    return bool(Portal.objects.filter(pk=portal_pk, pace_next_at=tat).update(pace_next_at=new_tat))


# The same two statements on PostgreSQL without the ORM: building each query cost more CPU
# than the rest of a batch request's bookkeeping.
def _read_pg(portal_pk: int) -> tuple | None:
    with connection.wrap_database_errors, raw_cursor() as cursor:
        return cursor.execute(PG_READ.format(table=_table()), [portal_pk]).fetchone()


def _write_pg(portal_pk: int, tat: datetime | None, new_tat: datetime) -> bool:
    # IS NOT DISTINCT FROM: a first reservation finds NULL, as the ORM's filter on None does.
    with connection.wrap_database_errors, raw_cursor() as cursor:
        cursor.execute(PG_WRITE.format(table=_table()), [new_tat, portal_pk, tat])
        return bool(cursor.rowcount)


PG_READ = "SELECT pace_next_at, pace_rate, pace_burst FROM {table} WHERE id = %s"
PG_WRITE = "UPDATE {table} SET pace_next_at = %s WHERE id = %s AND pace_next_at IS NOT DISTINCT FROM %s::timestamptz"


def _table() -> str:
    return connection.ops.quote_name(Portal._meta.db_table)


def wait_for_slot(portal_pk: int, sleep: Callable[[float], None] = time.sleep) -> float:
    """Reserve a slot and sleep until it; returns the seconds slept."""
    slot = reserve_slot(portal_pk)
    delay = (slot - timezone.now()).total_seconds()
    if delay > 0:
        sleep(delay)
        return delay
    return 0.0
