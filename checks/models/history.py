"""Verification history: one row per bot per scheduled slot, and daily aggregates past retention."""

from django.conf import settings
from django.db import models
from django.utils import timezone

from checks.models.bots import Bot
from checks.models.portals import Portal
from checks.status import ResponseFormat, Status


def counters_of(row) -> dict | None:
    """The four counters of a Bot or Verification row under Bitrix24's names; None before any."""
    if row.count_message is None:
        return None
    return {
        "countMessage": row.count_message,
        "countCommand": row.count_command,
        "countChat": row.count_chat,
        "countUser": row.count_user,
    }


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
    # Failed health checks of SPEC §7: [{"check", "detail", "key", "critical"}]; status degraded.
    problems = models.JSONField(default=list, blank=True)
    event_backlog_s = models.PositiveIntegerField(null=True, blank=True, help_text="Oldest pending event, seconds")
    # Recorded with its portal's status: the portal failed (SPEC §8) and the bot was not verified.
    by_portal = models.BooleanField(default=False)

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
        return counters_of(self)


class BotEvent(models.Model):
    """Something that happened to a bot's configuration: a change seen, a new id accepted, an expectation set."""

    class Kind(models.TextChoices):
        CONFIG_CHANGED = "config_changed", "Configuration changed"
        ID_ACCEPTED = "id_accepted", "New id accepted"
        EXPECT_SET = "expect_set", "Expectation set"

    bot = models.ForeignKey(Bot, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    created_at = models.DateTimeField(default=timezone.now)
    changes = models.JSONField(default=dict, blank=True, help_text='{"field": [before, after]}')
    note = models.TextField(blank=True, default="")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [
            # Bot page "Configuration history": newest first per bot.
            models.Index(fields=["bot", "-created_at"], name="botevent_bot_time"),
        ]


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
