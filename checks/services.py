"""Services of the verification engine that the rest of BotWatch calls.

The engine itself lives in checks/engine.py (claiming, verifying, recording) and the
history pruning in checks/retention.py; this module is the front door for tasks, commands
and the dashboard, plus the heartbeats that tell /healthz and the dashboard whether
checks are running.
"""

import logging
from datetime import datetime

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from checks.engine import claim_due_portals, claim_portal, verify_portal
from checks.models import Bot, Heartbeat, Verification
from checks.retention import prune_history

__all__ = [
    "check_now",
    "claim_due_portals",
    "dispatch_due",
    "heartbeat_ages",
    "last_verification_at",
    "prune_history",
    "touch_heartbeat",
    "verify_portal",
]

log = logging.getLogger(__name__)

BEAT = "beat"  # touched by every dispatch tick: beat, broker and a worker all alive


def dispatch_due(now: datetime | None = None) -> int:
    """Claim the due portals and enqueue one verification task per claim."""
    touch_heartbeat(BEAT, now)
    claims = claim_due_portals(now)
    if claims:
        from checks.tasks import verify_portal_task

        # One producer (and broker connection) for the whole tick rather than one per message.
        with verify_portal_task.app.producer_or_acquire() as producer:
            for portal_id, token in claims:
                enqueue_verification(portal_id, token, producer=producer)
    if claims:
        log.info("dispatched %d portal(s)", len(claims))
    return len(claims)


def enqueue_verification(portal_id: int, token, *, manual: bool = False, producer=None) -> None:
    # Imported here: tasks import this module.
    from checks.tasks import verify_portal_task

    verify_portal_task.apply_async(args=[portal_id, str(token)], kwargs={"manual": manual}, producer=producer)


def check_now(portal_id: int) -> bool:
    """The dashboard's "check now": every enabled bot of the portal, as soon as a worker is free.

    Returns False when the portal is paused or a verification of it is running already
    (its results are moments away). Works on any broker, the filesystem one included.
    """
    now = timezone.now()
    with transaction.atomic():
        token = claim_portal(portal_id, now)
        if token is None:
            return False
        # Their slot becomes now; the claimed run then reschedules them as usual.
        Bot.objects.filter(portal_id=portal_id, enabled=True).update(next_check_at=now)
        transaction.on_commit(lambda: enqueue_verification(portal_id, token, manual=True))
    return True


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
