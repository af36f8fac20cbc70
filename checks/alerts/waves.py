"""Fleet waves: one bot code gone not_found or not_owner on many portals at once.

A release or an uninstall gone wrong breaks one bot everywhere; forty emails would say one thing.
When the code's open incidents reach WAVE_PORTALS portals within WAVE_WINDOW, a wave opens and
takes them as its parts. It gathers portals for BOTWATCH_WAVE_GRACE seconds before its one email,
which lists them all (those failing in the same sweep land in it); portals that fail with the code
within WAVE_JOIN of its opening join it silently. Each part resolves with its bot; the wave
resolves, with one email, with the last of them.

Exactly once: deciding "is this the third portal?" takes a per-code lock (PostgreSQL advisory,
held to the end of the evaluating transaction), so two portals evaluated at once cannot both see
two; the wave is an insert that `incident_one_open_wave_per_code` lets through once; its email is
claimed by a conditional update.
"""

import logging
from datetime import datetime, timedelta
from functools import partial

from celery import current_app
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Max, Q

from checks.alerts.messages import recipients_for
from checks.alerts.portal_messages import render_wave_email
from checks.alerts.queue import ANNOUNCE_TASK, queue_email
from checks.alerts.rules import reminder_due, worse
from checks.models import Incident, IncidentEvent
from checks.status import WAVE_STATUSES

log = logging.getLogger(__name__)

Kind = IncidentEvent.Kind
OPEN = Incident.State.OPEN
WAVE_PORTALS = 3
WAVE_WINDOW = timedelta(minutes=15)
WAVE_JOIN = timedelta(hours=1)


def lock_codes(codes: set[str]) -> None:
    """Serialise wave decisions per bot code until the caller's transaction ends.

    Sorted, so that two evaluations needing the same codes queue instead of deadlocking.
    """
    with connection.cursor() as cursor:
        for code in sorted(codes):
            cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [f"botwatch-wave:{code}"])


def joinable(code: str, now: datetime) -> Incident | None:
    """The code's open wave, if it opened recently enough to take more portals."""
    return (
        Incident.objects.filter(kind=Incident.Kind.WAVE, state=OPEN, wave_code=code, opened_at__gte=now - WAVE_JOIN)
        .order_by("-opened_at")
        .first()
    )


def recent_parts(code: str, portal_id: int, now: datetime) -> list[Incident]:
    """Open incidents of this code on other portals, announced, gone bad within the window and in no wave."""
    return list(
        Incident.objects.filter(
            kind=Incident.Kind.BOT,
            state=OPEN,
            wave__isnull=True,
            suppressed=False,
            bot__code=code,
            last_status__in=WAVE_STATUSES,
            started_at__gte=now - WAVE_WINDOW,
        )
        .exclude(portal_id=portal_id)
        .select_related("bot", "portal")
    )


def open_wave(code: str, parts: list[Incident], now: datetime) -> Incident | None:
    """A new wave over `parts` (the bot incidents that make it), or None when another worker opened one.

    Whoever opens it (a worker, or `verify`), it gathers for BOTWATCH_WAVE_GRACE: its announcement
    is enqueued for then, and `verify` waits for it (gathering_until, announce_due).
    """
    grace = timedelta(seconds=settings.BOTWATCH_WAVE_GRACE)
    worst = parts[0].status
    for part in parts[1:]:
        worst = worse(worst, part.status)
    first = min(parts, key=lambda p: p.started_at)
    try:
        with transaction.atomic():
            wave = Incident.objects.create(
                kind=Incident.Kind.WAVE,
                wave_code=code,
                status=worst,
                last_status=parts[-1].last_status,
                error_code=parts[-1].error_code,
                error_description=parts[-1].error_description,
                http_status=parts[-1].http_status,
                started_at=first.started_at,
                opened_at=now,
                suppressed=True,  # until its email: the portals failing together gather first
                announce_at=now + grace,
            )
    except IntegrityError:
        return None  # incident_one_open_wave_per_code: the open wave is older than WAVE_JOIN
    note = f"{len(parts)} portals within {WAVE_WINDOW.seconds // 60} min"
    IncidentEvent.objects.create(incident=wave, kind=Kind.OPENED, status=worst, created_at=now, note=note)
    for part in parts:
        attach(wave, part, now)
    transaction.on_commit(lambda: _enqueue_announcement(wave.pk, grace))
    return wave


def attach(wave: Incident, part: Incident, now: datetime) -> None:
    """The bot incident becomes the wave's part: its alerts are the wave's from now on."""
    if not Incident.objects.filter(pk=part.pk, wave__isnull=True).update(wave=wave):
        return
    part.wave = wave
    Incident.objects.filter(pk=wave.pk).update(status=worse(wave.status, part.status))
    IncidentEvent.objects.create(
        incident=wave,
        kind=Kind.JOINED,
        status=part.last_status,
        portal_id=part.portal_id,
        created_at=now,
        note=part.bot.label,
    )


def part_resolved(part: Incident, now: datetime) -> list[int]:
    """One portal of the wave recovered; the last one to recover resolves the wave (one email)."""
    wave = part.wave
    IncidentEvent.objects.create(
        incident=wave,
        kind=Kind.PART_RESOLVED,
        status=part.last_status,
        portal_id=part.portal_id,
        created_at=now,
        note=part.bot.label,
    )
    if Incident.objects.filter(wave=wave, state=OPEN).exists():
        return []
    changed = Incident.objects.filter(pk=wave.pk, state=OPEN).update(state=Incident.State.RESOLVED, resolved_at=now)
    if not changed:
        return []
    wave.refresh_from_db()
    event = IncidentEvent.objects.create(incident=wave, kind=Kind.RESOLVED, status="ok", created_at=now)
    if wave.suppressed:
        return []  # all back before its email went out: nobody heard of the wave
    return _email(Kind.RESOLVED, wave, event, str(wave.pk))


def announce(wave_id: int) -> list[int]:
    """The wave's one email, listing every portal gathered so far; claimed once."""
    with transaction.atomic():
        if not Incident.objects.filter(pk=wave_id, state=OPEN, suppressed=True).update(suppressed=False):
            return []  # announced already, or every portal recovered first
        wave = Incident.objects.get(pk=wave_id)
        event = wave.events.filter(kind=Kind.OPENED).first()
        return _email(Kind.OPENED, wave, event, str(wave.pk))


def announce_due(now: datetime) -> list[int]:
    """The emails of the waves whose gathering is over by `now` and that are not announced yet."""
    ids = []
    due = Incident.objects.filter(kind=Incident.Kind.WAVE, state=OPEN, suppressed=True, announce_at__lte=now)
    for wave_id in due.values_list("pk", flat=True):
        ids += announce(wave_id)
    return ids


def gathering_until(since: datetime) -> datetime | None:
    """When the last wave opened since `since` and not yet announced stops gathering; None: none is."""
    waves = Incident.objects.filter(kind=Incident.Kind.WAVE, state=OPEN, suppressed=True, opened_at__gte=since)
    return waves.aggregate(until=Max("announce_at"))["until"]


def send_wave_alerts(now: datetime) -> list[int]:
    """The sweep: waves whose announcement is due (its task lost), and reminders of unacknowledged ones."""
    ids = announce_due(now)
    hours = settings.BOTWATCH_REMINDER_HOURS
    if hours <= 0:
        return ids
    due_before = now - timedelta(hours=hours)
    waves = Incident.objects.filter(
        kind=Incident.Kind.WAVE, state=OPEN, suppressed=False, acknowledged_at__isnull=True
    ).filter(Q(last_reminder_at__lte=due_before) | Q(last_reminder_at__isnull=True, opened_at__lte=due_before))
    for wave in waves:
        ids += _remind(wave, now, hours)
    return ids


def _remind(wave: Incident, now: datetime, hours: int) -> list[int]:
    number = reminder_due(
        opened_at=wave.opened_at, last_reminder_at=wave.last_reminder_at, acknowledged=False, hours=hours, now=now
    )
    if number is None:
        return []
    with transaction.atomic():
        claimed = Incident.objects.filter(
            pk=wave.pk, state=OPEN, acknowledged_at__isnull=True, last_reminder_at=wave.last_reminder_at
        ).update(last_reminder_at=now)
        if not claimed:
            return []
        event = IncidentEvent.objects.create(
            incident=wave, kind=Kind.REMINDER, status=wave.last_status, created_at=now, note=f"reminder {number}"
        )
        return _email(Kind.REMINDER, wave, event, f"{wave.pk}.{number}")


def wave_parts(wave: Incident) -> list[Incident]:
    return list(wave.parts.select_related("bot", "portal").order_by("started_at", "pk"))


def _email(kind: str, wave: Incident, event: IncidentEvent, key: str) -> list[int]:
    parts = wave_parts(wave)
    render = partial(render_wave_email, kind, wave, parts)
    pk = queue_email(f"wave-{kind}:{key}", kind, render, [event], None, _recipients(parts))
    return [pk] if pk else []


def _recipients(parts: list[Incident]) -> list[str]:
    """Everyone who hears of any of the portals, once."""
    seen, result = set(), []
    portals = {part.portal_id: part.portal for part in parts}
    for portal in sorted(portals.values(), key=lambda p: p.name):
        for email in recipients_for(portal):
            if email.lower() not in seen:
                seen.add(email.lower())
                result.append(email)
    return result


def _enqueue_announcement(wave_id: int, grace: timedelta) -> None:
    try:
        # By name: the task module imports this one (see checks.alerts.queue).
        current_app.signature(ANNOUNCE_TASK).apply_async(args=[wave_id], countdown=grace.total_seconds())
    except Exception as exc:  # kombu raises several types when the broker is down
        # The reminder sweep announces waves whose time has come.
        log.warning("could not enqueue the announcement of wave %s (%s); the sweep will send it", wave_id, exc)
