"""Verifications counted by status since BotWatch began counting: botwatch_verifications_total.

A counter must never go down, yet retention deletes old verifications, so the totals are kept
in one row (VerificationTally) and counted forward by id. Whoever renders /metrics counts the
rows after `last_id` and moves it on with a conditional update: of two web processes counting
at once, one wins and the other takes its totals, so no row is counted twice and the totals
never move back to what a process with an older view of the tally counted. Only rows older
than SETTLE are counted: a row with a smaller id that is still uncommitted (a run records its
rows in one transaction moments after checking) would otherwise be skipped for good.
"""

from collections import Counter
from datetime import datetime, timedelta

from django.db.models import Count, Max
from django.utils import timezone

from checks.models import Verification, VerificationTally

SETTLE = timedelta(minutes=2)


def verification_totals(now: datetime | None = None) -> dict[str, int]:
    """{status: verifications so far}, brought up to the rows of SETTLE ago."""
    now = now or timezone.now()
    tally, _ = VerificationTally.objects.get_or_create(pk=1)
    settled = Verification.objects.filter(pk__gt=tally.last_id, checked_at__lt=now - SETTLE)
    upto = settled.aggregate(last=Max("pk"))["last"]
    if upto is None:
        return dict(tally.counts)
    counts = Counter(tally.counts)
    new = Verification.objects.filter(pk__gt=tally.last_id, pk__lte=upto).values("status").annotate(n=Count("pk"))
    for row in new.order_by():
        counts[row["status"]] += row["n"]
    moved = VerificationTally.objects.filter(pk=1, last_id=tally.last_id).update(
        last_id=upto, counts=dict(counts), updated_at=now
    )
    if not moved:  # another process counted these rows first: its totals are the ones
        return dict(VerificationTally.objects.get(pk=1).counts)
    return dict(counts)
