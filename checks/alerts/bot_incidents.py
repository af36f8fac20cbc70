"""One bot's incident, applied to the database: open, escalate, change, release, resolve.

The handlers of checks.alerts.incidents, one per action of the pure rules (checks.alerts.rules).
Exactly once: an incident is opened by an insert that the partial unique constraint
`incident_one_open_per_bot` lets through once; every later change is a conditional update
("only if the row still holds what I read") and only the caller whose update changed a row
writes the event and reports the outcome.
"""

from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from checks.alerts.messages import AlertItem
from checks.alerts.rules import Action, Decision, worse
from checks.models import Bot, Incident, IncidentEvent, Verification
from checks.status import Status
from checks.status import problem_keys as keys_of_problems

Kind = IncidentEvent.Kind
OPEN_STATE = Incident.State.OPEN


@dataclass
class Outcome:
    kind: str
    item: AlertItem
    alert: bool


def problem_keys(verification: Verification) -> frozenset[str]:
    return keys_of_problems(verification.problems)


def seen(verification: Verification) -> dict:
    """The incident columns that describe the latest bad verification."""
    return {
        "last_status": verification.status,
        "error_code": verification.error_code,
        "error_description": verification.error_description,
        "http_status": verification.http_status,
        "problems": verification.problems or [],
    }


def streak_start(verification: Verification) -> datetime:
    """When the bad streak that opens this incident began: its first bad verification."""
    count = max(verification.bot.consecutive_failures, 1)
    times = list(
        Verification.objects.filter(bot_id=verification.bot_id, checked_at__lte=verification.checked_at)
        .order_by("-checked_at")
        .values_list("checked_at", flat=True)[:count]
    )
    return times[-1] if times else verification.checked_at


def add_event(incident: Incident, kind: str, status: str, at: datetime, note: str = "", user=None) -> IncidentEvent:
    return IncidentEvent.objects.create(
        incident=incident, kind=kind, status=status, created_at=at, note=note, user=user
    )


def open_incident(verification: Verification, _incident: None, decision: Decision) -> Outcome | None:
    try:
        with transaction.atomic():
            incident = Incident.objects.create(
                bot=verification.bot,
                portal=verification.portal,
                status=verification.status,
                started_at=streak_start(verification),
                opened_at=verification.checked_at,
                suppressed=not decision.alert,
                problem_keys=sorted(problem_keys(verification)),
                **seen(verification),
            )
    except IntegrityError:
        # incident_one_open_per_bot: another worker opened it first, and alerts for it.
        return None
    note = "" if decision.alert else "opened while muted or in maintenance: no alert"
    event = add_event(incident, Kind.OPENED, verification.status, verification.checked_at, note)
    return Outcome(Kind.OPENED, AlertItem(event, incident, verification.bot), decision.alert)


def escalate(verification: Verification, incident: Incident, decision: Decision) -> Outcome | None:
    previous_status, previous_code = incident.last_status, incident.error_code
    known = set(incident.problem_keys or [])
    new_keys = sorted(problem_keys(verification) - known)
    changed = Incident.objects.filter(pk=incident.pk, state=OPEN_STATE, status=incident.status).update(
        status=verification.status, problem_keys=sorted(known | set(new_keys)), **seen(verification)
    )
    if not changed:
        return None
    incident.refresh_from_db()
    was = previous_code or previous_status
    note = f"new problem: {', '.join(new_keys)}" if previous_status == verification.status else f"was {was}"
    event = add_event(incident, Kind.ESCALATED, verification.status, verification.checked_at, note)
    item = AlertItem(event, incident, verification.bot, previous_status=previous_status, previous_code=previous_code)
    item.extra["new_problems"] = new_keys
    return Outcome(Kind.ESCALATED, item, decision.alert)


def change(verification: Verification, incident: Incident, decision: Decision) -> Outcome | None:
    keys = sorted(set(incident.problem_keys or []) | problem_keys(verification))
    changed = Incident.objects.filter(pk=incident.pk, state=OPEN_STATE, last_status=incident.last_status).update(
        problem_keys=keys, **seen(verification)
    )
    if changed:
        add_event(incident, Kind.CHANGED, verification.status, verification.checked_at, f"was {incident.last_status}")
    return None


def release(verification: Verification, incident: Incident, decision: Decision) -> Outcome | None:
    """Announce an incident opened during a mute or maintenance that has ended, as it is now."""
    changed = Incident.objects.filter(pk=incident.pk, state=OPEN_STATE, suppressed=True).update(
        suppressed=False, status=worse(incident.status, verification.status), **seen(verification)
    )
    if not changed:
        return None
    incident.refresh_from_db()
    return released_outcome(incident, verification.bot)


def released_outcome(incident: Incident, bot: Bot) -> Outcome:
    event = incident.events.filter(kind=Kind.OPENED).first()
    if event is None:
        event = add_event(incident, Kind.OPENED, incident.last_status, timezone.now())
    return Outcome(Kind.OPENED, AlertItem(event, incident, bot, extra={"released": True}), True)


def resolve(verification: Verification, incident: Incident, decision: Decision) -> Outcome | None:
    changed = Incident.objects.filter(pk=incident.pk, state=OPEN_STATE).update(
        state=Incident.State.RESOLVED, resolved_at=verification.checked_at
    )
    if not changed:
        return None
    incident.refresh_from_db()
    event = add_event(incident, Kind.RESOLVED, Status.OK, verification.checked_at)
    return Outcome(Kind.RESOLVED, AlertItem(event, incident, verification.bot), decision.alert)


HANDLERS = {
    Action.OPEN: open_incident,
    Action.ESCALATE: escalate,
    Action.CHANGE: change,
    Action.RELEASE: release,
    Action.RESOLVE: resolve,
}
