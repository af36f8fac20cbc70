"""Heartbeats that tell /healthz and the dashboard whether checks are running."""

from datetime import datetime, timedelta

from django.db.models import Func, Max, Subquery, Sum
from django.utils import timezone

from checks.history.tally import last_recorded_at
from checks.models import Bot, Heartbeat, Portal

BEAT = "beat"  # touched by every dispatch tick: beat, broker and a worker all alive
WORKER = "worker:"  # + hostname
CAPACITY_FRESH = timedelta(seconds=60)  # a worker not heard of for this long runs nothing


def touch_heartbeat(name: str, now: datetime | None = None, capacity: int | None = None) -> None:
    defaults = {"seen_at": now or timezone.now()}
    if capacity is not None:
        defaults["capacity"] = capacity
    Heartbeat.objects.update_or_create(name=name, defaults=defaults)


def free_capacity(now: datetime) -> int | None:
    """How many more portals the live workers can verify now; None when no worker says (no cap).

    Every claimed portal counts, queued or running: the verify queue then never holds more
    than the workers can run, and their reserved threads stay free for alerts and ticks.
    """
    # One round trip: every finished run asks (checks.engine.dispatch.refill).
    busy = Portal.objects.filter(claimed_until__gt=now).order_by().values(n=Func("pk", function="COUNT"))
    row = Heartbeat.objects.filter(name__startswith=WORKER, seen_at__gte=now - CAPACITY_FRESH).aggregate(
        total=Sum("capacity"), busy=Max(Subquery(busy))
    )
    if row["total"] is None:
        return None
    return max(0, row["total"] - (row["busy"] or 0))


def heartbeat_ages(now: datetime | None = None) -> dict[str, float]:
    """Seconds since each heartbeat ("beat", "worker:<hostname>") was last touched."""
    now = now or timezone.now()
    return {hb.name: (now - hb.seen_at).total_seconds() for hb in Heartbeat.objects.all()}


def last_verification_at() -> datetime | None:
    return last_recorded_at()


def has_work() -> bool:
    """Whether any bot is expected to be verified (an empty install has nothing to report)."""
    return Bot.objects.filter(enabled=True, portal__paused=False).exists()
