"""Incident rules, pure: no I/O, `now` passed in.

Given a new status, the bot's failure streak, its threshold and the open incident,
`decide()` says what happens; checks.alerts.incidents applies the decision to the database.
"""

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from checks.status import DEFAULT_THRESHOLDS, SEVERITY, Status

log = logging.getLogger(__name__)


class Action(StrEnum):
    NOTHING = "nothing"
    OPEN = "open"  # the streak reached its threshold: a new incident
    ESCALATE = "escalate"  # the open incident became more severe: alert again
    CHANGE = "change"  # another bad status, not more severe: recorded, no alert
    RELEASE = "release"  # opened while muted or in maintenance, still bad now that it ended: alert
    RESOLVE = "resolve"  # ok again


@dataclass(frozen=True)
class OpenIncident:
    """What the rules need to know about a bot's open incident."""

    status: str  # worst status seen
    last_status: str
    suppressed: bool = False  # opened during a mute or a maintenance window, not announced
    problem_keys: frozenset[str] = frozenset()  # every health-check problem seen (degraded)


@dataclass(frozen=True)
class Decision:
    action: Action
    alert: bool = False


NOTHING = Decision(Action.NOTHING)


def validate_thresholds(data: object) -> dict[str, int]:
    """Portal.thresholds as given by an operator: {status: failures}. Raises ValueError naming the problem."""
    if not isinstance(data, Mapping):
        raise ValueError(f"thresholds must be a mapping of status to a count, not {type(data).__name__}")
    clean = {}
    for status, count in data.items():
        if status not in DEFAULT_THRESHOLDS:
            known = ", ".join(sorted(DEFAULT_THRESHOLDS))
            raise ValueError(f"thresholds: unknown status {status!r} (known: {known})")
        if not _is_count(count):
            raise ValueError(f"thresholds.{status}: {count!r} is not a whole number of at least 1")
        clean[str(status)] = count
    return clean


def _is_count(value: object) -> bool:
    # JSON true is an int to Python; a threshold of "True failures" is an operator's mistake.
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def threshold_for(status: str, overrides: Mapping | None = None) -> int:
    """Consecutive bad verifications before `status` opens an incident (the default, or Portal.thresholds)."""
    count = (overrides or {}).get(str(status))
    if _is_count(count):
        return count
    if count is not None:
        # A bad stored value must not stop alerting for the whole portal: fall back, loudly.
        log.warning("ignoring invalid threshold %r for %s; using the default", count, status)
    return DEFAULT_THRESHOLDS.get(str(status), 1)


def threshold_for_problems(status: str, problems: Iterable[Mapping], overrides: Mapping | None = None) -> int:
    """threshold_for, except that a critical problem (an event backlog past 20 h) alerts at once.

    Bitrix24 deletes a fetch-mode bot's events at 24 h without notice: waiting for a second
    verification could cost the customer's messages.
    """
    if status == Status.DEGRADED and any(p.get("critical") for p in problems):
        return 1
    return threshold_for(status, overrides)


def is_quiet(
    now: datetime, *, muted_until: Iterable[datetime | None] = (), windows: Iterable[tuple[datetime, datetime]] = ()
) -> bool:
    """True while a mute (portal or bot) or a maintenance window covers `now`."""
    if any(until and until > now for until in muted_until):
        return True
    return any(start <= now < end for start, end in windows)


def decide(
    status: str,
    *,
    failures: int,
    threshold: int,
    incident: OpenIncident | None,
    quiet: bool = False,
    problem_keys: frozenset[str] = frozenset(),
) -> Decision:
    """What one new verification status (and its health-check problems) does to a bot's incident."""
    if status == Status.OK:
        if incident is None:
            return NOTHING
        # Nobody was told about a suppressed incident: nobody needs to hear it is over.
        return Decision(Action.RESOLVE, alert=not (incident.suppressed or quiet))
    if incident is None:
        # The verification being judged is bad, so the streak is at least one long.
        if max(failures, 1) >= threshold:
            return Decision(Action.OPEN, alert=not quiet)
        return NOTHING
    if incident.suppressed and not quiet:
        return Decision(Action.RELEASE, alert=True)
    if SEVERITY.get(status, 0) > SEVERITY.get(incident.status, 0):
        return Decision(Action.ESCALATE, alert=not (incident.suppressed or quiet))
    if status == Status.DEGRADED == incident.status and problem_keys - incident.problem_keys:
        # A new problem inside an open degraded incident is news (drift, then the user switched off).
        return Decision(Action.ESCALATE, alert=not (incident.suppressed or quiet))
    if status != incident.last_status:
        return Decision(Action.CHANGE)
    return NOTHING


def reminder_due(
    *,
    opened_at: datetime,
    last_reminder_at: datetime | None,
    acknowledged: bool,
    hours: int,
    now: datetime,
) -> int | None:
    """The number of the reminder due now for an open incident, or None (0 hours: reminders off)."""
    if acknowledged or hours <= 0:
        return None
    period = timedelta(hours=hours)
    if now - (last_reminder_at or opened_at) < period:
        return None
    return int((now - opened_at) / period)


def incident_reminder_due(incident, *, hours: int, now: datetime) -> int | None:
    """reminder_due for an incident row (a bot's or a portal's): its times and acknowledgement."""
    return reminder_due(
        opened_at=incident.opened_at,
        last_reminder_at=incident.last_reminder_at,
        acknowledged=incident.acknowledged_at is not None,
        hours=hours,
        now=now,
    )


def worse(a: str, b: str) -> str:
    """The more severe of two statuses (the first on a tie)."""
    return b if SEVERITY.get(b, 0) > SEVERITY.get(a, 0) else a
