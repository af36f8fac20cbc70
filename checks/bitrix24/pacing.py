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

from django.utils import timezone

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
    for _ in range(MAX_ATTEMPTS):
        row = Portal.objects.filter(pk=portal_pk).values("pace_next_at", "pace_rate", "pace_burst").first()
        if row is None:
            return now()
        slot, new_tat = next_slot(row["pace_next_at"], now(), row["pace_rate"], row["pace_burst"])
        # Only if no other worker reserved in between; else read again and retry.
        changed = Portal.objects.filter(pk=portal_pk, pace_next_at=row["pace_next_at"]).update(pace_next_at=new_tat)
        if changed:
            return slot
    # Constant contention for this row: go on rather than stall; Bitrix24's bucket is deeper.
    return now()


def wait_for_slot(portal_pk: int, sleep: Callable[[float], None] = time.sleep) -> float:
    """Reserve a slot and sleep until it; returns the seconds slept."""
    slot = reserve_slot(portal_pk)
    delay = (slot - timezone.now()).total_seconds()
    if delay > 0:
        sleep(delay)
        return delay
    return 0.0
