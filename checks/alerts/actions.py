"""What operators do to incidents and alerting: acknowledge, mute, unmute, list, timeline."""

from datetime import datetime

from django.db import transaction
from django.db.models import Prefetch
from django.utils import timezone

from checks.models import Bot, Incident, IncidentEvent, Notification, Portal


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


def unmute_portal(portal: Portal, user) -> None:
    mute_portal(portal, None, user)


def unmute_bot(bot: Bot, user) -> None:
    mute_bot(bot, None, user)


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


def list_incidents(state: str | None = None, portal: Portal | None = None):
    """Incidents for the dashboard, open first then newest; bot, portal and acknowledger joined."""
    if state is not None and state not in Incident.State.values:
        raise ValueError(f"incident state {state!r} is not one of {', '.join(Incident.State.values)}")
    rows = Incident.objects.select_related("bot", "portal", "acknowledged_by")
    if state:
        rows = rows.filter(state=state)
    if portal is not None:
        rows = rows.filter(portal=portal)
    # Index incident_state_time serves this order.
    return rows.order_by("state", "-opened_at")


def incident_timeline(incident: Incident) -> list[IncidentEvent]:
    """The incident's events in order, each with its user and the notifications that reported it."""
    events = incident.events.select_related("user").prefetch_related(
        Prefetch("notifications", queryset=Notification.objects.order_by("created_at"))
    )
    return list(events.order_by("created_at", "pk"))
