"""Incidents and what alerting keeps around them: events, notifications, maintenance, subscriptions."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.dates import WEEKDAYS_ABBR
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from checks.models.bots import Bot
from checks.models.portals import Portal
from checks.status import Status


class Incident(models.Model):
    """One bad episode: of one bot, of a whole portal, or of one bot code on many portals (a wave).

    A bot incident opens after its threshold and resolves with an ok verification. A portal incident
    stands for every bot of a failing portal (none of them opens its own meanwhile). A wave groups the
    bot incidents of one code gone not_found or not_owner on many portals: its parts (`wave`), which
    resolve one by one; the wave resolves with the last of them.
    """

    class State(models.TextChoices):
        OPEN = "open", _("Open")
        RESOLVED = "resolved", _("Resolved")

    class Kind(models.TextChoices):
        BOT = "bot", _("Bot")
        PORTAL = "portal", _("Portal")
        WAVE = "wave", _("Fleet wave")

    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.BOT)
    bot = models.ForeignKey(Bot, null=True, blank=True, on_delete=models.CASCADE, related_name="incidents")
    portal = models.ForeignKey(Portal, null=True, blank=True, on_delete=models.CASCADE, related_name="incidents")
    # A bot incident that is one portal's part of a wave; its alerts are the wave's.
    wave = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="parts")
    wave_code = models.CharField(max_length=100, blank=True, default="", help_text="A wave's bot code")
    # A wave gathers the portals that fail together before its one email goes out (then suppressed ends).
    announce_at = models.DateTimeField(null=True, blank=True)
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
            # At most one open incident per bot, per portal, per wave code, whatever the workers race on.
            models.UniqueConstraint(fields=["bot"], condition=Q(state="open"), name="incident_one_open_per_bot"),
            models.UniqueConstraint(
                fields=["portal"], condition=Q(state="open", kind="portal"), name="incident_one_open_per_portal"
            ),
            models.UniqueConstraint(
                fields=["wave_code"], condition=Q(state="open", kind="wave"), name="incident_one_open_wave_per_code"
            ),
            models.CheckConstraint(
                condition=Q(kind="bot", bot__isnull=False, portal__isnull=False)
                | Q(kind="portal", bot__isnull=True, portal__isnull=False)
                | Q(kind="wave", bot__isnull=True, portal__isnull=True) & ~Q(wave_code=""),
                name="incident_subject",
            ),
        ]
        indexes = [
            # Alerts page and overview: open incidents first.
            models.Index(fields=["state", "-opened_at"], name="incident_state_time"),
        ]

    @property
    def subject(self) -> str:
        """What the incident is about, for pages and audit lines: `bot on portal`, `portal acme`, `wave of code`."""
        if self.kind == self.Kind.PORTAL:
            return f"portal {self.portal.name}"
        if self.kind == self.Kind.WAVE:
            return f"wave of {self.wave_code}"
        return f"{self.bot.label} on {self.portal.name}"


class IncidentEvent(models.Model):
    """The timeline of an incident: opened, escalated, reminder, acknowledged, resolved, note."""

    class Kind(models.TextChoices):
        OPENED = "opened", _("Opened")
        ESCALATED = "escalated", _("Became more severe")
        REMINDER = "reminder", _("Reminder")
        ACKNOWLEDGED = "acknowledged", _("Acknowledged")
        RESOLVED = "resolved", _("Resolved")
        MUTED = "muted", _("Muted")
        # Another bad status within the open incident, not more severe: recorded, no email.
        CHANGED = "changed", _("Status changed")
        # A portal joined a wave, or a wave's portal recovered: recorded on the wave, no email.
        JOINED = "joined", _("Portal joined")
        PART_RESOLVED = "part_resolved", _("Portal recovered")
        # Not an incident's (Notification.kind only): the weekly credential digest, the app's paid
        # period about to end.
        DIGEST = "digest", _("Credential digest")
        PAYMENT = "payment", _("Paid period ending")
        REPORT = "report", _("Monthly report")

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="events")
    # A wave's JOINED and PART_RESOLVED events name the portal.
    portal = models.ForeignKey(Portal, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
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
        PENDING = "pending", _("Pending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")
        # Nobody to email, and channels carry it (ChannelDelivery): no email is owed.
        SKIPPED = "skipped", _("No email recipients: channels only")

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
    # The same for chat channels: a short title and body (RenderedEmail.chat_title, chat_body).
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


class MaintenanceQuerySet(models.QuerySet):
    def covering(self, now: datetime) -> list["MaintenanceWindow"]:
        """The windows in force at `now`: one-off windows by a query, weekly ones by their own clock."""
        candidates = self.filter(Q(starts_at__lte=now, ends_at__gt=now) | Q(start_time__isnull=False))
        return [w for w in candidates if w.span_at(now)]

    def for_portal(self, portal: Portal | int) -> "MaintenanceQuerySet":
        """A portal's windows and those for every portal."""
        return self.filter(Q(portal=portal) | Q(portal__isnull=True))


class MaintenanceWindow(models.Model):
    """Verifications go on, alerts are held back: for a portal, one bot, or every portal (portal empty).

    Either once (starts_at to ends_at) or every week: on `weekdays` (0 Monday .. 6 Sunday) from
    start_time to end_time in `timezone`, as Uptime Kuma's recurring maintenance; an end before the
    start runs past midnight into the next day.
    """

    portal = models.ForeignKey(
        Portal, null=True, blank=True, on_delete=models.CASCADE, related_name="maintenance_windows"
    )
    bot = models.ForeignKey(Bot, null=True, blank=True, on_delete=models.CASCADE, related_name="maintenance_windows")
    starts_at = models.DateTimeField(null=True, blank=True)
    ends_at = models.DateTimeField(null=True, blank=True)
    weekdays = models.JSONField(default=list, blank=True, help_text="Weekly: days, 0 Monday .. 6 Sunday")
    start_time = models.TimeField(null=True, blank=True)
    end_time = models.TimeField(null=True, blank=True)
    timezone = models.CharField(
        max_length=64, default="UTC", help_text="Weekly: the clock of the times, e.g. Europe/Berlin"
    )
    note = models.CharField(max_length=300, blank=True, default="")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)

    objects = MaintenanceQuerySet.as_manager()

    class Meta:
        ordering = ["-starts_at"]
        constraints = [
            models.CheckConstraint(condition=Q(ends_at__gt=models.F("starts_at")), name="window_ends_after_start"),
            models.CheckConstraint(
                condition=Q(starts_at__isnull=False, ends_at__isnull=False, start_time__isnull=True)
                | Q(starts_at__isnull=True, ends_at__isnull=True, start_time__isnull=False, end_time__isnull=False)
                & ~Q(weekdays=[]),
                name="window_once_or_weekly",
            ),
        ]

    @property
    def weekly(self) -> bool:
        return self.start_time is not None

    def describe(self) -> str:
        """In words, for pages and the audit log: "every Mon, Sat 02:00-04:00 Europe/Berlin"."""
        if self.weekly:
            days = ", ".join(str(WEEKDAYS_ABBR[d]) for d in sorted(self.weekdays))
            return gettext("every %(days)s %(start)s-%(end)s %(zone)s") % {
                "days": days,
                "start": f"{self.start_time:%H:%M}",
                "end": f"{self.end_time:%H:%M}",
                "zone": self.timezone,
            }
        return f"{self.starts_at:%Y-%m-%d %H:%M} to {self.ends_at:%Y-%m-%d %H:%M} UTC"

    def span_at(self, now: datetime) -> tuple[datetime, datetime] | None:
        """The occurrence of this window that covers `now`, or None."""
        if not self.weekly:
            return (self.starts_at, self.ends_at) if self.starts_at <= now < self.ends_at else None
        zone = ZoneInfo(self.timezone)
        today = now.astimezone(zone).date()
        # An occurrence that began yesterday may run past midnight into today.
        for day in (today, today - timedelta(days=1)):
            if day.weekday() not in self.weekdays:
                continue
            start = datetime.combine(day, self.start_time, zone)
            end = datetime.combine(day, self.end_time, zone)
            if end <= start:
                end += timedelta(days=1)
            if start <= now < end:
                return start, end
        return None


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
