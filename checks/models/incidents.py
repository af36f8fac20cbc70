"""Incidents and what alerting keeps around them: events, notifications, maintenance, subscriptions."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from checks.models.bots import Bot
from checks.models.portals import Portal
from checks.status import Status


class Incident(models.Model):
    """One bad episode of one bot: opened after its threshold, resolved by an ok verification."""

    class State(models.TextChoices):
        OPEN = "open", "Open"
        RESOLVED = "resolved", "Resolved"

    bot = models.ForeignKey(Bot, on_delete=models.CASCADE, related_name="incidents")
    portal = models.ForeignKey(Portal, on_delete=models.CASCADE, related_name="incidents")
    state = models.CharField(max_length=10, choices=State.choices, default=State.OPEN)
    status = models.CharField(max_length=20, choices=Status.choices, help_text="Worst status seen")
    last_status = models.CharField(max_length=20, choices=Status.choices)
    error_code = models.CharField(max_length=100, blank=True, default="")
    error_description = models.TextField(blank=True, default="")
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    # Degraded bots: the latest problems, and the key of every problem seen in this incident
    # (a problem with a new key escalates).
    problems = models.JSONField(default=list, blank=True)
    problem_keys = models.JSONField(default=list, blank=True)
    started_at = models.DateTimeField(default=timezone.now, help_text="First bad verification")
    opened_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    ack_note = models.TextField(blank=True, default="")
    last_reminder_at = models.DateTimeField(null=True, blank=True)
    suppressed = models.BooleanField(default=False, help_text="Opened during maintenance or mute: no alert")

    class Meta:
        ordering = ["-opened_at"]
        constraints = [
            # At most one open incident per bot, whatever the workers race on.
            models.UniqueConstraint(fields=["bot"], condition=Q(state="open"), name="incident_one_open_per_bot"),
        ]
        indexes = [
            # Alerts page and overview: open incidents first.
            models.Index(fields=["state", "-opened_at"], name="incident_state_time"),
        ]


class IncidentEvent(models.Model):
    """The timeline of an incident: opened, escalated, reminder, acknowledged, resolved, note."""

    class Kind(models.TextChoices):
        OPENED = "opened", "Opened"
        ESCALATED = "escalated", "Became more severe"
        REMINDER = "reminder", "Reminder"
        ACKNOWLEDGED = "acknowledged", "Acknowledged"
        RESOLVED = "resolved", "Resolved"
        MUTED = "muted", "Muted"
        # Another bad status within the open incident, not more severe: recorded, no email.
        CHANGED = "changed", "Status changed"
        # Not an incident's: the weekly credential digest (Notification.kind only).
        DIGEST = "digest", "Credential digest"

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    status = models.CharField(max_length=20, choices=Status.choices, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    note = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["created_at", "id"]


class Notification(models.Model):
    """One email about one or more incident events, written before sending (STYLE: notifiers)."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        # Nobody to email, and channels carry it (ChannelDelivery): no email is owed.
        SKIPPED = "skipped", "No email recipients: channels only"

    key = models.CharField(max_length=200, unique=True, help_text="Idempotence key: one email per event")
    # None for an email about several portals (the weekly credential digest).
    portal = models.ForeignKey(Portal, null=True, blank=True, on_delete=models.CASCADE, related_name="notifications")
    events = models.ManyToManyField(IncidentEvent, related_name="notifications")
    kind = models.CharField(max_length=20, choices=IncidentEvent.Kind.choices)
    recipients = models.JSONField(default=list)
    subject = models.CharField(max_length=300, blank=True, default="")
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    # The message as rendered when the event happened: a delayed delivery sends what was true then.
    text_body = models.TextField(blank=True, default="")
    html_body = models.TextField(blank=True, default="")
    # The same for chat channels: a short title and body (checks.alerts.messages.render_chat).
    chat_title = models.CharField(max_length=300, blank=True, default="")
    chat_body = models.TextField(blank=True, default="")
    # The portal's route this went by (a status class of Portal.routes), "" for the usual targets.
    route = models.CharField(max_length=30, blank=True, default="")
    # Delivery (checks.alerts.delivery): the retry sweep's due time, and a lease taken by a
    # conditional update so that two workers never send the same row at once.
    next_attempt_at = models.DateTimeField(default=timezone.now)
    claimed_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            # Delivery sweep: "pending notifications, oldest first".
            models.Index(fields=["created_at"], name="notification_pending", condition=Q(state="pending")),
        ]


class MaintenanceWindow(models.Model):
    """Verifications go on, alerts are held back (for a portal, or one bot)."""

    portal = models.ForeignKey(Portal, on_delete=models.CASCADE, related_name="maintenance_windows")
    bot = models.ForeignKey(Bot, null=True, blank=True, on_delete=models.CASCADE, related_name="maintenance_windows")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    note = models.CharField(max_length=300, blank=True, default="")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)

    class Meta:
        ordering = ["-starts_at"]
        constraints = [
            models.CheckConstraint(condition=Q(ends_at__gt=models.F("starts_at")), name="window_ends_after_start")
        ]


class Subscription(models.Model):
    """A dashboard user who wants the alerts of a portal (or of every portal: portal empty)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="subscriptions")
    portal = models.ForeignKey(Portal, null=True, blank=True, on_delete=models.CASCADE, related_name="subscriptions")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "portal"], name="subscription_once"),
            # NULLs are distinct in the constraint above, so "every portal" needs its own.
            models.UniqueConstraint(
                fields=["user"], condition=Q(portal__isnull=True), name="subscription_every_portal_once"
            ),
        ]
