"""Portal incidents: one per failing portal, standing for every bot it keeps from being verified.

The engine records the portal's own state with each run (checks.engine.portal_state); this applies
the same pure rules as the bots' (checks.alerts.rules.decide) to it. While the portal fails, its bots
are recorded with its status and open nothing of their own (checks.alerts.incidents skips them);
when it recovers, its incident resolves with one email and the bots' own statuses take over.

Exactly once, as for bots: the open is an insert that `incident_one_open_per_portal` lets through
once, every later change a conditional update, the email's key unique.
"""

from datetime import datetime, timedelta
from functools import partial

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q

from checks.alerts.messages import recipients_for
from checks.alerts.portal_messages import render_portal_email
from checks.alerts.queue import queue_email
from checks.alerts.rules import (
    Action,
    Decision,
    OpenIncident,
    decide,
    incident_reminder_due,
    is_quiet,
    threshold_for,
    worse,
)
from checks.models import Incident, IncidentEvent, MaintenanceWindow, Portal
from checks.status import PORTAL_INCIDENT_STATUSES, BotState, Status, problem_keys

Kind = IncidentEvent.Kind
OPEN = Incident.State.OPEN
PORTAL = Incident.Kind.PORTAL


def evaluate_portal(portal_id: int, checked_at: datetime) -> list[int]:
    """Open, escalate or resolve the portal's incident from its state as of `checked_at`; notification ids.

    A newer run's state is that run's to judge: nothing is done when the portal moved on.
    """
    portal = Portal.objects.filter(pk=portal_id).first()
    if portal is None or portal.status == BotState.PENDING or portal.last_checked_at != checked_at:
        return []
    # Statuses that are not the portal's to alert on (a bad_response, a misconfiguration) leave it to
    # the bots: for the portal's incident they count as recovered.
    status = portal.status if portal.status in PORTAL_INCIDENT_STATUSES else Status.OK
    with transaction.atomic():
        incident = Incident.objects.filter(portal=portal, kind=PORTAL, state=OPEN).first()
        decision = decide(
            status,
            failures=portal.consecutive_failures,
            threshold=threshold_for(status, portal.thresholds),
            incident=_snapshot(incident),
            quiet=is_quiet_portal(portal, checked_at),
            problem_keys=problem_keys(portal.problems),
        )
        handler = _HANDLERS.get(decision.action)
        return handler(portal, incident, decision, checked_at) if handler else []


def is_quiet_portal(portal: Portal, now: datetime) -> bool:
    """Muted, or in a maintenance window for the whole portal (a window for one bot does not quiet it)."""
    windows = MaintenanceWindow.objects.for_portal(portal).filter(bot__isnull=True).covering(now)
    return is_quiet(now, muted_until=[portal.muted_until], windows=[w.span_at(now) for w in windows])


def _snapshot(incident: Incident | None) -> OpenIncident | None:
    if incident is None:
        return None
    keys = frozenset(incident.problem_keys or [])
    return OpenIncident(incident.status, incident.last_status, incident.suppressed, keys)


def _seen(portal: Portal) -> dict:
    return {
        "last_status": portal.status,
        "error_code": portal.last_error,
        "error_description": portal.last_error_description,
        "http_status": portal.last_http_status,
        "problems": portal.problems or [],
    }


def _event(incident: Incident, kind: str, status: str, at: datetime, note: str = "") -> IncidentEvent:
    return IncidentEvent.objects.create(incident=incident, kind=kind, status=status, created_at=at, note=note)


def _email(kind: str, incident: Incident, event: IncidentEvent, key: str, previous: str = "") -> list[int]:
    render = partial(render_portal_email, kind, incident, event, previous)
    pk = queue_email(f"portal-{kind}:{key}", kind, render, [event], incident.portal, recipients_for(incident.portal))
    return [pk] if pk else []


def _open(portal: Portal, _incident: None, decision: Decision, at: datetime) -> list[int]:
    try:
        with transaction.atomic():
            incident = Incident.objects.create(
                kind=PORTAL,
                portal=portal,
                status=portal.status,
                started_at=portal.status_since or at,
                opened_at=at,
                suppressed=not decision.alert,
                problem_keys=sorted(problem_keys(portal.problems)),
                **_seen(portal),
            )
    except IntegrityError:
        return []  # incident_one_open_per_portal: another worker opened it, and alerts for it
    note = "" if decision.alert else "opened while muted or in maintenance: no alert"
    event = _event(incident, Kind.OPENED, portal.status, at, note)
    return _email(Kind.OPENED, incident, event, str(incident.pk)) if decision.alert else []


def _escalate(portal: Portal, incident: Incident, decision: Decision, at: datetime) -> list[int]:
    previous = incident.last_status
    keys = sorted(set(incident.problem_keys or []) | problem_keys(portal.problems))
    changed = Incident.objects.filter(pk=incident.pk, state=OPEN, status=incident.status).update(
        status=portal.status, problem_keys=keys, **_seen(portal)
    )
    if not changed:
        return []
    incident.refresh_from_db()
    event = _event(incident, Kind.ESCALATED, portal.status, at, f"was {previous}")
    if not decision.alert:
        return []
    return _email(Kind.ESCALATED, incident, event, f"{incident.pk}.{portal.status}.{'+'.join(keys)}", previous)


def _change(portal: Portal, incident: Incident, decision: Decision, at: datetime) -> list[int]:
    changed = Incident.objects.filter(pk=incident.pk, state=OPEN, last_status=incident.last_status).update(
        **_seen(portal)
    )
    if changed:
        _event(incident, Kind.CHANGED, portal.status, at, f"was {incident.last_status}")
    return []


def _release(portal: Portal, incident: Incident, decision: Decision, at: datetime) -> list[int]:
    changed = Incident.objects.filter(pk=incident.pk, state=OPEN, suppressed=True).update(
        suppressed=False, status=worse(incident.status, portal.status), **_seen(portal)
    )
    if not changed:
        return []
    incident.refresh_from_db()
    return _announce_held(incident, at)


def _announce_held(incident: Incident, at: datetime) -> list[int]:
    event = incident.events.filter(kind=Kind.OPENED).first() or _event(incident, Kind.OPENED, incident.last_status, at)
    return _email(Kind.OPENED, incident, event, str(incident.pk))


def _resolve(portal: Portal, incident: Incident, decision: Decision, at: datetime) -> list[int]:
    changed = Incident.objects.filter(pk=incident.pk, state=OPEN).update(state=Incident.State.RESOLVED, resolved_at=at)
    if not changed:
        return []
    incident.refresh_from_db()
    event = _event(incident, Kind.RESOLVED, Status.OK, at)
    return _email(Kind.RESOLVED, incident, event, str(incident.pk)) if decision.alert else []


_HANDLERS = {
    Action.OPEN: _open,
    Action.ESCALATE: _escalate,
    Action.CHANGE: _change,
    Action.RELEASE: _release,
    Action.RESOLVE: _resolve,
}


# --- The periodic sweep ---------------------------------------------------------------


def _open_portal_incidents():
    # A paused portal is nobody's emergency.
    return Incident.objects.filter(kind=PORTAL, state=OPEN, portal__paused=False).select_related("portal")


def send_portal_reminders(now: datetime) -> list[int]:
    """Held-back portal incidents whose quiet time ended, and reminders of unacknowledged ones."""
    ids = []
    for incident in _open_portal_incidents().filter(suppressed=True):
        if is_quiet_portal(incident.portal, now):
            continue
        held = Incident.objects.filter(pk=incident.pk, state=OPEN, suppressed=True)
        if held.update(suppressed=False, last_reminder_at=now):
            with transaction.atomic():
                ids += _announce_held(incident, now)
    hours = settings.BOTWATCH_REMINDER_HOURS
    if hours <= 0:
        return ids
    due_before = now - timedelta(hours=hours)
    candidates = _open_portal_incidents().filter(acknowledged_at__isnull=True, suppressed=False)
    candidates = candidates.filter(
        Q(last_reminder_at__lte=due_before) | Q(last_reminder_at__isnull=True, opened_at__lte=due_before)
    )
    for incident in candidates:
        ids += _remind(incident, now, hours)
    return ids


def _remind(incident: Incident, now: datetime, hours: int) -> list[int]:
    number = incident_reminder_due(incident, hours=hours, now=now)
    if number is None or is_quiet_portal(incident.portal, now):
        return []
    with transaction.atomic():
        claimed = Incident.objects.filter(
            pk=incident.pk, state=OPEN, acknowledged_at__isnull=True, last_reminder_at=incident.last_reminder_at
        ).update(last_reminder_at=now)
        if not claimed:
            return []  # resolved, acknowledged or reminded by someone else meanwhile
        event = _event(incident, Kind.REMINDER, incident.last_status, now, f"reminder {number}")
        return _email(Kind.REMINDER, incident, event, f"{incident.pk}.{number}")
