"""BotWatch's data: portals, the bots expected on them, verifications, incidents, notifications.

Methods here touch their own row only; multi-step writes live in checks/services.py.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from checks.crypto import EncryptedTextField
from checks.status import BotState, ResponseFormat, Status


class AuthType(models.TextChoices):
    WEBHOOK = "webhook", "Incoming webhook"
    OAUTH = "oauth", "OAuth application"


class Portal(models.Model):
    # The encrypted columns: forms keep them write-only, lists defer them, emails scrub them.
    SECRET_FIELDS = ("webhook_code", "oauth_client_secret", "oauth_access_token", "oauth_refresh_token")

    name = models.SlugField(max_length=100, unique=True, help_text="Unique label, e.g. acme")
    url = models.URLField(max_length=500, help_text="Portal address; may carry a path prefix")
    auth_type = models.CharField(max_length=10, choices=AuthType.choices, default=AuthType.WEBHOOK)

    # Incoming webhook: <url>/rest/<user_id>/<code>/<method>
    webhook_user_id = models.PositiveIntegerField(null=True, blank=True)
    webhook_code = EncryptedTextField(blank=True, default="")

    # OAuth application: access token on each call, refreshed at BITRIX24_OAUTH_URL.
    oauth_client_id = models.CharField(max_length=200, blank=True, default="")
    oauth_client_secret = EncryptedTextField(blank=True, default="")
    oauth_access_token = EncryptedTextField(blank=True, default="")
    oauth_refresh_token = EncryptedTextField(blank=True, default="")
    oauth_expires_at = models.DateTimeField(null=True, blank=True)
    # Cross-process refresh lock: a conditional update takes it (checks/bitrix24/).
    oauth_refresh_lock_until = models.DateTimeField(null=True, blank=True)
    oauth_refreshed_at = models.DateTimeField(null=True, blank=True)

    alert_emails = models.JSONField(default=list, blank=True, help_text="Recipients; empty: BOTWATCH_ALERT_EMAILS")
    interval = models.PositiveIntegerField(
        null=True, blank=True, help_text="Seconds between verifications; empty: BOTWATCH_CHECK_INTERVAL"
    )
    thresholds = models.JSONField(default=dict, blank=True, help_text="Per-status failures before alerting")
    paused = models.BooleanField(default=False)
    muted_until = models.DateTimeField(null=True, blank=True)

    # Pacing: a leaky bucket shared by every worker, kept on the row (see checks/bitrix24/pacing.py).
    pace_rate = models.FloatField(default=1.0, help_text="Requests per second BotWatch allows itself")
    pace_burst = models.PositiveIntegerField(default=5)
    pace_next_at = models.DateTimeField(null=True, blank=True)
    # OPERATION_TIME_LIMIT: no call before this time (Bitrix24's operating_reset_at).
    blocked_until = models.DateTimeField(null=True, blank=True)
    # None: not known yet; False: the portal refused imbot methods in batch.
    batch_supported = models.BooleanField(null=True, blank=True)
    # Set when the portal answered with a redirect (renamed portal); the operator updates url.
    redirected_to = models.URLField(max_length=500, blank=True, default="")

    # Scheduling (checks/services.py): due time and a lease that a killed worker lets expire.
    next_check_at = models.DateTimeField(default=timezone.now)
    claimed_until = models.DateTimeField(null=True, blank=True)
    claim_token = models.UUIDField(null=True, blank=True)

    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        indexes = [
            # Scheduler: "portals due now and not leased", every tick.
            models.Index(fields=["next_check_at"], name="portal_due", condition=Q(paused=False)),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def check_interval(self) -> int:
        return self.interval or settings.BOTWATCH_CHECK_INTERVAL

    @property
    def recipients(self) -> list[str]:
        return list(self.alert_emails) or list(settings.BOTWATCH_ALERT_EMAILS)

    def is_muted(self, now=None) -> bool:
        return bool(self.muted_until and self.muted_until > (now or timezone.now()))


def verification_pointer() -> models.ForeignKey:
    """A bot's pointer to one of its verifications.

    Kept by the engine's own write (checks/engine_pg.py sets it to the row it has just
    inserted) and nulled by Django when the row goes (retention deletes through the ORM).
    No database constraint: checking every pointer moved, twice per bot per sweep, cost the
    database more than inserting the verifications. No index either: retention's SET NULL
    scans the bots once per 5,000 rows deleted, while every sweep moves every pointer.
    """
    return models.ForeignKey(
        "Verification", models.SET_NULL, null=True, blank=True, related_name="+", db_constraint=False, db_index=False
    )


class Bot(models.Model):
    """A bot expected on a portal, named by code or by id, with its current state."""

    portal = models.ForeignKey(Portal, on_delete=models.CASCADE, related_name="bots")
    code = models.CharField(max_length=100, blank=True, default="")
    bot_id = models.PositiveBigIntegerField(null=True, blank=True)
    bot_token = EncryptedTextField(blank=True, default="")
    enabled = models.BooleanField(default=True)
    muted_until = models.DateTimeField(null=True, blank=True)

    # Current state, updated with each verification in the same transaction.
    status = models.CharField(max_length=20, choices=BotState.choices, default=BotState.PENDING)
    status_since = models.DateTimeField(null=True, blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    # The current bad run counted by status, e.g. {"server_error": 2, "unreachable": 1}; empty after ok.
    failure_streak = models.JSONField(default=dict, blank=True)
    next_check_at = models.DateTimeField(default=timezone.now)
    last_checked_at = models.DateTimeField(null=True, blank=True)
    last_ok_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=100, blank=True, default="")
    last_duration_ms = models.PositiveIntegerField(null=True, blank=True)
    last_verification = verification_pointer()
    last_ok_verification = verification_pointer()
    # From the last extended answer: counters, Bot fields, users.
    count_message = models.BigIntegerField(null=True, blank=True)
    count_command = models.BigIntegerField(null=True, blank=True)
    count_chat = models.BigIntegerField(null=True, blank=True)
    count_user = models.BigIntegerField(null=True, blank=True)
    remote_id = models.PositiveBigIntegerField(null=True, blank=True, help_text="Bot id seen on the portal")
    fields = models.JSONField(default=dict, blank=True)
    users = models.JSONField(default=list, blank=True)

    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["portal__name", "code", "bot_id"]
        constraints = [
            models.UniqueConstraint(fields=["portal", "code"], condition=~Q(code=""), name="bot_unique_code"),
            models.UniqueConstraint(
                fields=["portal", "bot_id"], condition=Q(bot_id__isnull=False), name="bot_unique_bot_id"
            ),
            models.CheckConstraint(condition=~Q(code="") | Q(bot_id__isnull=False), name="bot_code_or_id"),
        ]
        # Nothing a sweep changes is indexed (status, next check, last verification): then
        # PostgreSQL updates a bot's row in place (HOT) without touching any index. "Due bots
        # of a portal" reads the portal's few rows through the portal index; the dashboard's
        # status filters and counts read every bot anyway.
        indexes = []

    def __str__(self) -> str:
        return f"{self.label} on {self.portal_id and self.portal.name}"

    @property
    def label(self) -> str:
        return self.code or f"#{self.bot_id}"

    def is_muted(self, now=None) -> bool:
        return bool(self.muted_until and self.muted_until > (now or timezone.now()))


class Verification(models.Model):
    """One call of imbot.v2.Bot.get for one bot, as classified (SPEC §5)."""

    # No single-column indexes: verification_bot_time, verification_once_per_slot and
    # verification_portal_time lead with these columns, and every index costs each insert.
    bot = models.ForeignKey(Bot, on_delete=models.CASCADE, related_name="verifications", db_index=False)
    portal = models.ForeignKey(Portal, on_delete=models.CASCADE, related_name="verifications", db_index=False)
    # The scheduled slot this row answers: unique per bot, so a redelivered task writes nothing twice.
    slot = models.DateTimeField()
    checked_at = models.DateTimeField(default=timezone.now)
    status = models.CharField(max_length=20, choices=Status.choices)
    error_code = models.CharField(max_length=100, blank=True, default="")
    error_description = models.TextField(blank=True, default="")
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    response_format = models.CharField(max_length=10, choices=ResponseFormat.choices, blank=True, default="")
    count_message = models.BigIntegerField(null=True, blank=True)
    count_command = models.BigIntegerField(null=True, blank=True)
    count_chat = models.BigIntegerField(null=True, blank=True)
    count_user = models.BigIntegerField(null=True, blank=True)
    fields = models.JSONField(default=dict, blank=True)
    operating = models.FloatField(null=True, blank=True, help_text="time.operating, seconds")
    redirect_url = models.URLField(max_length=500, blank=True, default="")
    manual = models.BooleanField(default=False, help_text="Run by `verify` or 'check now'")

    class Meta:
        ordering = ["-checked_at"]
        constraints = [models.UniqueConstraint(fields=["bot", "slot"], name="verification_once_per_slot")]
        indexes = [
            # Bot page history and charts: newest first per bot.
            models.Index(fields=["bot", "-checked_at"], name="verification_bot_time"),
            # Portal page "recent verifications".
            models.Index(fields=["portal", "-checked_at"], name="verification_portal_time"),
            # Retention: delete rows older than BOTWATCH_HISTORY_DAYS.
            models.Index(fields=["checked_at"], name="verification_time"),
        ]

    @property
    def counters(self) -> dict | None:
        if self.count_message is None:
            return None
        return {
            "countMessage": self.count_message,
            "countCommand": self.count_command,
            "countChat": self.count_chat,
            "countUser": self.count_user,
        }


class DailyStat(models.Model):
    """Per-bot daily aggregate that outlives pruned verifications (long-range charts, uptime)."""

    bot = models.ForeignKey(Bot, on_delete=models.CASCADE, related_name="daily_stats")
    day = models.DateField()
    checks = models.PositiveIntegerField(default=0)
    failures = models.PositiveIntegerField(default=0)
    total_duration_ms = models.BigIntegerField(default=0)
    count_message = models.BigIntegerField(null=True, blank=True)
    count_command = models.BigIntegerField(null=True, blank=True)
    count_chat = models.BigIntegerField(null=True, blank=True)
    count_user = models.BigIntegerField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["bot", "day"], name="dailystat_once_per_day")]

    @property
    def uptime(self) -> float | None:
        return (self.checks - self.failures) / self.checks if self.checks else None


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

    key = models.CharField(max_length=200, unique=True, help_text="Idempotence key: one email per event")
    portal = models.ForeignKey(Portal, on_delete=models.CASCADE, related_name="notifications")
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
    # Delivery (checks/notifications.py): the retry sweep's due time, and a lease taken by a
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


class Heartbeat(models.Model):
    """Self-monitoring: beat and workers touch their row; /healthz reads the ages."""

    name = models.CharField(max_length=100, primary_key=True)
    seen_at = models.DateTimeField(default=timezone.now)


class AuditLog(models.Model):
    """Who changed what, in the dashboard or through commands. Never holds a secret."""

    at = models.DateTimeField(default=timezone.now)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    actor = models.CharField(max_length=150, blank=True, default="", help_text="User name or command")
    action = models.CharField(max_length=50)
    object_type = models.CharField(max_length=50, blank=True, default="")
    object_id = models.CharField(max_length=50, blank=True, default="")
    object_repr = models.CharField(max_length=200, blank=True, default="")
    changes = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-at"]
        indexes = [models.Index(fields=["-at"], name="auditlog_time")]
