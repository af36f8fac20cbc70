"""Incidents: one per bot per bad episode, and the alerts they raise.

The services here apply the pure rules of checks.alerts.rules (what a new status does
to a bot's incident) to the database; grouping events into notifications lives in
checks.alerts.queue and sending them in checks.alerts.delivery. A run's portal-level
outcome goes to checks.alerts.portal_incidents (the bots recorded with a failing portal's
status open nothing here), and a bot code failing on many portals becomes a fleet wave
(checks.alerts.waves), whose parts alert through the wave.

Exactly once: an incident is opened by an insert that the partial unique constraint
`incident_one_open_per_bot` lets through once; every later change is a conditional update
("only if the row still holds what I read") and only the caller whose update changed a row
writes the event and its notification, whose `key` is unique as a last guard.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import groupby

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from checks.alerts import portal_incidents, waves
from checks.alerts.messages import AlertItem
from checks.alerts.payment import warn_payment
from checks.alerts.queue import dispatch, group_by_route, queue_notification
from checks.alerts.rules import (
    Action,
    Decision,
    OpenIncident,
    decide,
    incident_reminder_due,
    is_quiet,
    threshold_for_problems,
    worse,
)
from checks.models import Bot, Incident, IncidentEvent, MaintenanceWindow, Portal, Verification
from checks.status import WAVE_STATUSES, Status
from checks.status import problem_keys as keys_of_problems

# --- One bot's incident, applied to the database: open, escalate, change, release, resolve -------
# One handler per action of the pure rules (checks.alerts.rules). Exactly once: the open is an
# insert that `incident_one_open_per_bot` lets through once; every later change is a conditional
# update, and only the caller whose update changed a row writes the event and reports the outcome.

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


# --- Services: applying the rules -----------------------------------------------------


def evaluate_run(
    verification_ids: list[int], portal_id: int, portal_at: datetime | None, *, inline: bool = False
) -> list[int]:
    """A recorded run: the portal's own state as of `portal_at` (None: nothing to look at), then its
    verifications; returns notification ids. Called by the engine after the run is committed."""
    notification_ids = []
    if portal_at is not None:
        notification_ids += portal_incidents.evaluate_portal(portal_id, portal_at)
        notification_ids += warn_payment(portal_id, portal_at)
    notification_ids += _evaluate_rows(verification_ids)
    dispatch(notification_ids, inline=inline)
    return notification_ids


def _evaluate_rows(verification_ids: list[int]) -> list[int]:
    rows = (
        Verification.objects.filter(pk__in=verification_ids)
        .select_related("bot", "portal")
        .order_by("portal_id", "checked_at", "pk")
    )
    notification_ids = []
    for _portal_id, group in groupby(rows, key=lambda v: v.portal_id):
        notification_ids += _evaluate_portal(list(group))
    return notification_ids


def _evaluate_portal(verifications: list[Verification]) -> list[int]:
    portal = verifications[0].portal
    alerts: dict[str, list[AlertItem]] = defaultdict(list)
    extra: list[int] = []  # the waves' emails
    with transaction.atomic():
        codes = {v.bot.code for v in verifications if v.status in WAVE_STATUSES and v.bot.code and not v.by_portal}
        if codes:
            waves.lock_codes(codes)
        for verification in verifications:
            outcome = _evaluate_one(verification, extra)
            if outcome and outcome.alert:
                alerts[outcome.kind].append(outcome.item)
        return _queue_grouped(portal, alerts) + extra


def _queue_grouped(portal: Portal, alerts: dict[str, list[AlertItem]]) -> list[int]:
    ids = []
    for kind, items in alerts.items():
        for route, group in group_by_route(portal, kind, items):
            pk = queue_notification(portal, kind, group, [_key_part(kind, item) for item in group], route)
            if pk:
                ids.append(pk)
    return ids


def _key_part(kind: str, item: AlertItem) -> str:
    # An incident is opened and resolved once, but escalates once per worse status and is
    # reminded about once per period: those keys name which one, or the second is dropped.
    if kind == Kind.ESCALATED:
        # A degraded incident escalates once per new problem, not once per status.
        new = item.extra.get("new_problems") if item.event.status == Status.DEGRADED else None
        return f"{item.incident.pk}.{item.event.status}" + (f".{'+'.join(new)}" if new else "")
    if kind == Kind.REMINDER:
        return f"{item.incident.pk}.{item.extra['reminder_number']}"
    return str(item.incident.pk)


def _evaluate_one(verification: Verification, extra: list[int]) -> Outcome | None:
    bot, portal = verification.bot, verification.portal
    if bot.last_verification_id not in (None, verification.pk):
        # A newer verification of this bot exists; its own evaluation decides.
        return None
    if verification.by_portal:
        # The portal failed and the bot was not verified: the portal's incident speaks for it.
        return None
    incident = Incident.objects.filter(bot_id=bot.pk, state=OPEN_STATE).first()
    decision = decide(
        verification.status,
        failures=bot.consecutive_failures,
        threshold=threshold_for_problems(verification.status, verification.problems, portal.thresholds),
        incident=_snapshot(incident),
        quiet=_is_quiet_now(bot, portal, verification.checked_at),
        problem_keys=problem_keys(verification),
    )
    handler = HANDLERS.get(decision.action)
    if handler is None:
        return None
    if incident is not None and incident.wave_id:
        return _in_wave(verification, incident, decision, extra)
    if decision.action == Action.OPEN and decision.alert and verification.status in WAVE_STATUSES and bot.code:
        handled, outcome = _open_in_wave(verification, decision)
        if handled:
            return outcome
    return handler(verification, incident, decision)


def _in_wave(verification: Verification, incident: Incident, decision: Decision, extra: list[int]) -> None:
    """A wave's part changes as any incident, but its alerts are the wave's: none of its own."""
    outcome = HANDLERS[decision.action](verification, incident, decision)
    if outcome is not None and decision.action == Action.RESOLVE:
        incident.refresh_from_db()
        extra += waves.part_resolved(incident, verification.checked_at)
    return None


def _open_in_wave(verification: Verification, decision: Decision) -> tuple[bool, Outcome | None]:
    """The code's wave takes this portal (joined silently, or the third portal opens it); (False, None)
    when no wave is concerned and the incident opens as any other."""
    code, now = verification.bot.code, verification.checked_at
    wave = waves.joinable(code, now)
    parts = [] if wave else waves.recent_parts(code, verification.portal_id, now)
    if wave is None and len(parts) + 1 < waves.WAVE_PORTALS:
        return False, None
    outcome = open_incident(verification, None, decision)
    if outcome is None:
        return True, None  # another worker opened this bot's incident
    incident = outcome.item.incident
    if wave is None:
        wave = waves.open_wave(code, [*parts, incident], now) or waves.joinable(code, now)
    if wave is None:
        return True, outcome  # an older wave of this code is open, too old to join: an alert of its own
    waves.attach(wave, incident, now)
    return True, None


def _snapshot(incident: Incident | None) -> OpenIncident | None:
    if incident is None:
        return None
    return OpenIncident(
        status=incident.status,
        last_status=incident.last_status,
        suppressed=incident.suppressed,
        problem_keys=frozenset(incident.problem_keys or []),
    )


def _is_quiet_now(bot: Bot, portal: Portal, now: datetime) -> bool:
    windows = MaintenanceWindow.objects.for_portal(portal).filter(Q(bot__isnull=True) | Q(bot=bot)).covering(now)
    return is_quiet(now, muted_until=[portal.muted_until, bot.muted_until], windows=[w.span_at(now) for w in windows])


# --- Services: the periodic sweep -----------------------------------------------------


def send_reminders(now: datetime | None = None, *, inline: bool = False) -> list[int]:
    """Reminders for open, unacknowledged incidents, and the alerts held back by an ended mute or
    maintenance window for incidents still open. Returns notification ids."""
    now = now or timezone.now()
    # Keyed by the incidents' portals, already loaded with them (model instances compare by pk).
    alerts: dict[Portal, dict[str, list[AlertItem]]] = defaultdict(lambda: defaultdict(list))
    for outcome in [*_release_held_back(now), *_claim_reminders(now)]:
        alerts[outcome.item.incident.portal][outcome.kind].append(outcome.item)
    ids = []
    for portal, by_kind in alerts.items():
        with transaction.atomic():
            ids += _queue_grouped(portal, by_kind)
    ids += portal_incidents.send_portal_reminders(now)
    ids += waves.send_wave_alerts(now)
    dispatch(ids, inline=inline)
    return ids


def _open_incidents():
    # A paused portal or a disabled bot is nobody's emergency: no reminders about them. A wave's
    # parts are reminded of by their wave, and the bots of a portal with an open incident of its
    # own by that incident.
    portal_down = Incident.objects.filter(kind=Incident.Kind.PORTAL, state=OPEN_STATE).values("portal_id")
    rows = Incident.objects.filter(
        kind=Incident.Kind.BOT, state=OPEN_STATE, portal__paused=False, bot__enabled=True, wave__isnull=True
    ).exclude(portal_id__in=portal_down)
    return rows.select_related("bot", "portal").order_by("portal_id", "pk")


def _release_held_back(now: datetime) -> list[Outcome]:
    outcomes = []
    for incident in _open_incidents().filter(suppressed=True):
        if _is_quiet_now(incident.bot, incident.portal, now):
            continue
        # Conditional update: of two sweeps racing here, one announces the incident.
        # The announcement counts as the latest reminder: no reminder on top in this sweep.
        held = Incident.objects.filter(pk=incident.pk, state=OPEN_STATE, suppressed=True)
        if held.update(suppressed=False, last_reminder_at=now):
            incident.suppressed = False
            outcomes.append(released_outcome(incident, incident.bot))
    return outcomes


def _claim_reminders(now: datetime) -> list[Outcome]:
    hours = settings.BOTWATCH_REMINDER_HOURS
    if hours <= 0:
        return []
    due_before = now - timedelta(hours=hours)
    candidates = _open_incidents().filter(acknowledged_at__isnull=True, suppressed=False)
    candidates = candidates.filter(
        Q(last_reminder_at__lte=due_before) | Q(last_reminder_at__isnull=True, opened_at__lte=due_before)
    )
    outcomes = []
    for incident in candidates:
        outcome = _claim_reminder(incident, now, hours)
        if outcome:
            outcomes.append(outcome)
    return outcomes


def _claim_reminder(incident: Incident, now: datetime, hours: int) -> Outcome | None:
    number = incident_reminder_due(incident, hours=hours, now=now)
    if number is None or _is_quiet_now(incident.bot, incident.portal, now):
        return None
    claimed = Incident.objects.filter(
        pk=incident.pk, state=OPEN_STATE, acknowledged_at__isnull=True, last_reminder_at=incident.last_reminder_at
    ).update(last_reminder_at=now)
    if not claimed:
        return None  # resolved, acknowledged or reminded by someone else meanwhile
    event = add_event(incident, Kind.REMINDER, incident.last_status, now, f"reminder {number}")
    item = AlertItem(event, incident, incident.bot, extra={"reminder_number": number})
    return Outcome(Kind.REMINDER, item, True)
