"""Claims and leases: which portals are due, and which worker verifies each.

A claim is a fresh UUID written only where no live lease exists, so of any number of
beats or workers exactly one wins, and a portal claimed by a killed worker is claimed
again once its lease runs out.
"""

import random
import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Min, Q
from django.utils import timezone

from checks.engine import pg
from checks.models import Bot, Portal

MIN_INTERVAL = 30  # seconds; no bot is verified more often, whatever its interval
JITTER = 0.1  # the next check comes 0-10 % early, so bots checked together drift apart
# Bots of a claimed portal due within this share of the interval join the ones due now:
# one batch instead of two, and the portal's bots converge on a common schedule.
COALESCE = 0.25


class LostClaim(Exception):
    """The portal's lease ran out and another worker claimed it: this run writes nothing."""


def lease_seconds() -> int:
    # Longer than the verify task's hard time limit (checks.engine.tasks), so a live task never
    # loses its claim; overridable so the kill-a-worker test need not wait ten minutes.
    return int(getattr(settings, "BOTWATCH_CLAIM_LEASE", 600))


def lease_until(now: datetime) -> datetime:
    return now + timedelta(seconds=lease_seconds())


def interval_for(portal: Portal) -> int:
    return max(MIN_INTERVAL, portal.interval or settings.BOTWATCH_CHECK_INTERVAL)


def next_due(now: datetime, interval: int, rng: random.Random | None = None) -> datetime:
    early = JITTER * (rng or random).random()
    return now + timedelta(seconds=interval * (1 - early))


def due_portal_ids(now: datetime, limit: int = 1000) -> list[int]:
    """Unpaused portals with at least one enabled bot due and no live lease, longest due first.

    By due time, not by id: when the workers can take only some portals per tick, the others
    come next instead of those with the highest ids waiting for ever.
    """
    rows = (
        Bot.objects.filter(enabled=True, next_check_at__lte=now, portal__paused=False)
        .filter(Q(portal__claimed_until__isnull=True) | Q(portal__claimed_until__lte=now))
        .values("portal_id")
        .annotate(due=Min("next_check_at"))
        .order_by("due", "portal_id")
        .values_list("portal_id", flat=True)
    )
    return list(rows[:limit])


def hinted_portal_ids(now: datetime, limit: int) -> list[int]:
    """Unpaused, unleased portals whose own next check is due, the longest due first.

    Portal.next_check_at is the earliest next check of the portal's bots as its last run left
    it (checks.engine.pg.RECORD, recording.record_results): a read of the portal index alone
    (portal_due), where due_portal_ids reads every bot (Bot has no index on its next check, so
    that a sweep's updates stay HOT). A bot made due otherwise (added, enabled) waits for the
    next tick, which reads the bots.
    """
    rows = (
        Portal.objects.filter(paused=False, next_check_at__lte=now)
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lte=now))
        .order_by("next_check_at", "pk")
        .values_list("pk", flat=True)
    )
    return list(rows[:limit])


def claim_portal(portal_id: int, now: datetime | None = None) -> uuid.UUID | None:
    """Take the portal's lease if nobody holds a live one; the token proves ownership."""
    now = now or timezone.now()
    token = uuid.uuid4()
    # Conditional update: a concurrent UPDATE waits for the row lock, then re-checks the WHERE
    # on the new row and finds the lease taken.
    won = (
        Portal.objects.filter(pk=portal_id, paused=False)
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lte=now))
        .update(claim_token=token, claimed_until=lease_until(now))
    )
    return token if won else None


def claim_due_portals(
    now: datetime | None = None, limit: int = 1000, *, by_portal: bool = False
) -> list[tuple[int, uuid.UUID]]:
    """Claim up to `limit` due portals; by_portal: found by the portals' own next check (cheap)."""
    now = now or timezone.now()
    portal_ids = (hinted_portal_ids if by_portal else due_portal_ids)(now, limit)
    # One conditional UPDATE for the whole tick rather than one per portal.
    return pg.claim_portals(portal_ids, now, lease_until(now)) if portal_ids else []


def release_claim(portal_id: int, token: uuid.UUID, **changes) -> bool:
    return bool(
        Portal.objects.filter(pk=portal_id, claim_token=token).update(claim_token=None, claimed_until=None, **changes)
    )


def next_portal_check(portal_id: int) -> datetime:
    """The earliest due time of the portal's enabled bots (shown on the dashboard)."""
    earliest = Bot.objects.filter(portal_id=portal_id, enabled=True).aggregate(at=Min("next_check_at"))["at"]
    return earliest or default_portal_check()


def default_portal_check() -> datetime:
    # A portal without enabled bots: shown as due one interval from now.
    return timezone.now() + timedelta(seconds=settings.BOTWATCH_CHECK_INTERVAL)
