"""Checks counted by status since BotWatch began counting: botwatch_verifications_total.

Every run adds its checks to its portal's CheckTally row in the same statement that records
them (checks.engine.pg), so the totals are exact the moment a run is committed, and retention,
which deletes old history, never touches them. The rows of
deleted portals stay: a Prometheus counter must never go down.
"""

from collections import Counter
from datetime import datetime

from django.db.models import Max

from checks.models import CheckTally


def verification_totals() -> dict[str, int]:
    """{status: checks recorded so far}."""
    counts: Counter = Counter()
    for row in CheckTally.objects.values_list("counts", flat=True):
        counts.update(row)
    return dict(counts)


def last_recorded_at() -> datetime | None:
    """When the newest run was recorded (any portal)."""
    return CheckTally.objects.aggregate(at=Max("updated_at"))["at"]
