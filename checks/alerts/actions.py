"""What operators do to incidents and alerting: acknowledge, mute and unmute (mute until None)."""

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from checks.models import Bot, Incident, IncidentEvent, Portal


def acknowledge(incident: Incident, user, note: str = "") -> bool:
    """Someone is on it: reminders stop. False when the incident is resolved or already acknowledged."""
    now = timezone.now()
    with transaction.atomic():
        changed = Incident.objects.filter(
            pk=incident.pk, state=Incident.State.OPEN, acknowledged_at__isnull=True
        ).update(acknowledged_at=now, acknowledged_by=user, ack_note=note)
        if changed:
            IncidentEvent.objects.create(
                incident=incident, kind=IncidentEvent.Kind.ACKNOWLEDGED, created_at=now, user=user, note=note
            )
    incident.refresh_from_db()
    return bool(changed)


def mute_portal(portal: Portal, until: datetime | None, user) -> None:
    """No alerts for any bot of `portal` until `until` (None: unmute); checks and history go on."""
    _check_until(until)
    _set_mute(Portal.objects.filter(pk=portal.pk), Incident.objects.filter(portal=portal), until, user)
    portal.muted_until = until


def mute_bot(bot: Bot, until: datetime | None, user) -> None:
    """No alerts for `bot` until `until` (None: unmute)."""
    _check_until(until)
    _set_mute(Bot.objects.filter(pk=bot.pk), Incident.objects.filter(bot=bot), until, user)
    bot.muted_until = until


def _check_until(until: datetime | None) -> None:
    if until is None:
        return
    if not isinstance(until, datetime) or timezone.is_naive(until):
        raise ValueError(f"mute until: {until!r} is not a timezone-aware date and time")
    if until <= timezone.now():
        raise ValueError(f"mute until: {until.isoformat()} is in the past")


def _set_mute(rows, incidents, until: datetime | None, user) -> None:
    # The open incidents' timelines say who muted them and until when; the audit log entry
    # is written by the caller (the dashboard view), which knows the request.
    now = timezone.now()
    note = f"muted until {until.isoformat()}" if until else "unmuted"
    with transaction.atomic():
        rows.update(muted_until=until)
        events = [
            IncidentEvent(incident=i, kind=IncidentEvent.Kind.MUTED, created_at=now, user=user, note=note)
            for i in incidents.filter(state=Incident.State.OPEN)
        ]
        IncidentEvent.objects.bulk_create(events)
