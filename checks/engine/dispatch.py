"""Dispatch: claim the due portals and enqueue one verification task per claim; "check now".

Tasks are enqueued by name (checks.engine.tasks registers them under these names), so
this module needs nothing of the task module, which calls into it.
"""

import logging
from datetime import datetime

from celery import current_app
from django.db import transaction
from django.utils import timezone

from checks.engine.claims import claim_due_portals, claim_portal
from checks.engine.heartbeats import BEAT, free_capacity, touch_heartbeat
from checks.models import Bot

log = logging.getLogger(__name__)

# The verify task's name (checks.engine.tasks also runs messages queued under its earlier name).
VERIFY_TASK = "checks.engine.tasks.verify_portal"
# A tick's claim when no live worker reports its capacity (workers of an earlier release): the
# portals beyond it wait for the next ticks, 5 s apart, rather than crowd the queue at once.
CLAIM_LIMIT = 1000


def dispatch_due(now: datetime | None = None) -> int:
    """Claim the due portals, as many as the workers can take now, and enqueue one task per claim."""
    now = now or timezone.now()
    touch_heartbeat(BEAT, now)
    free = free_capacity(now)
    if free == 0:
        return 0
    return _enqueue(claim_due_portals(now, limit=CLAIM_LIMIT if free is None else free))


def refill(now: datetime | None = None) -> int:
    """After a run: claim what the workers have room for again, rather than wait for the next tick.

    The tick claims no more than the workers' capacity; without this, a sweep of more portals
    than that would go on one tick (5 s) at a time. No capacity known: the tick took them all.
    Every run ends in a refill, so it finds the due portals by their own next check: reading
    every bot's (what the tick does) cost PostgreSQL ~0.1 s a run at 100,000 bots, more than
    two cores have at 17 runs a second.
    """
    now = now or timezone.now()
    free = free_capacity(now)
    return _enqueue(claim_due_portals(now, limit=free, by_portal=True)) if free else 0


def _enqueue(claims: list) -> int:
    if claims:
        # One producer (and broker connection) for the whole tick rather than one per message.
        with current_app.producer_or_acquire() as producer:
            for portal_id, token in claims:
                enqueue_verification(portal_id, token, producer=producer)
        log.info("dispatched %d portal(s)", len(claims))
    return len(claims)


def enqueue_verification(portal_id: int, token, *, manual: bool = False, producer=None) -> None:
    # By name: the task module imports this one. A signature still runs the registered task
    # (eagerly in tests that ask for it), and falls back to sending by name where the task
    # module is not loaded (the web process).
    current_app.signature(VERIFY_TASK).apply_async(
        args=[portal_id, str(token)], kwargs={"manual": manual}, producer=producer
    )


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
