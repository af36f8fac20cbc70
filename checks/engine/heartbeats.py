"""Heartbeats that tell /healthz and the dashboard whether checks are running."""

from datetime import datetime

from django.db.models import Max
from django.utils import timezone

from checks.models import Bot, Heartbeat, Verification

BEAT = "beat"  # touched by every dispatch tick: beat, broker and a worker all alive


def touch_heartbeat(name: str, now: datetime | None = None) -> None:
    Heartbeat.objects.update_or_create(name=name, defaults={"seen_at": now or timezone.now()})


def heartbeat_ages(now: datetime | None = None) -> dict[str, float]:
    """Seconds since each heartbeat ("beat", "worker:<hostname>") was last touched."""
    now = now or timezone.now()
    return {hb.name: (now - hb.seen_at).total_seconds() for hb in Heartbeat.objects.all()}


def last_verification_at() -> datetime | None:
    return Verification.objects.aggregate(at=Max("checked_at"))["at"]


def has_work() -> bool:
    """Whether any bot is expected to be verified (an empty install has nothing to report)."""
    return Bot.objects.filter(enabled=True, portal__paused=False).exists()
