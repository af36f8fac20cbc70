"""Verification history at fleet scale (the issue: 90 days of it on one small machine).

- CheckHour: every check of a bot in one local hour, 36 bytes each (checks.history.checklog); the
  hour being checked now lives on the bot's own row (Bot.hour_checks) until it is over. Kept
  for BOTWATCH_RAW_HISTORY_HOURS (partitioned by day on `hour`, old partitions dropped
  whole).
- Verification: the checks that have something to say (a failure, a change, a manual check,
  a redirect: checks.history.hours.is_detailed), whole, one row each, kept as long;
  partitioned by day on `slot`. Alerting reads them.
- VerificationChange: the verifications that changed something (status, error, problems, the
  first one, the manual ones), copied out before their raw rows go and kept BOTWATCH_HISTORY_DAYS.
- DailyStat: one row per bot per day with the day's totals and, packed, each hour's checks,
  failures, latency and counters (checks.history.days): exact uptime on hour boundaries, hourly charts.
- CheckTally: checks counted by status per portal as they are recorded (/metrics).
"""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

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


class Outcome(models.Model):
    """What a verification found, as the history table shows it: kept by both stores."""

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
    manual = models.BooleanField(default=False, help_text="Run by `verify` or 'check now'")
    # Failed health checks: [{"check", "detail", "key", "critical"}]; status degraded.
    problems = models.JSONField(default=list, blank=True)
    event_backlog_s = models.PositiveIntegerField(null=True, blank=True, help_text="Oldest pending event, seconds")
    # Recorded with its portal's status: the portal failed and the bot was not verified.
    by_portal = models.BooleanField(default=False)

    class Meta:
        abstract = True


class Verification(Outcome):
    """One call of imbot.v2.Bot.get for one bot, as classified, written whole.

    Only checks with something to say are written so (every check is in CheckHour): a check
    that is not ok, changes something, is manual or was redirected.
    """

    # No single-column indexes: verification_once_per_slot leads with the bot, and every index
    # costs each insert. The raw rows of a bot are few (a day or two), so its pages sort them.
    bot = models.ForeignKey(Bot, on_delete=models.CASCADE, related_name="verifications", db_index=False)
    portal = models.ForeignKey(Portal, on_delete=models.CASCADE, related_name="verifications", db_index=False)
    # The scheduled slot this row answers: unique per bot, so a redelivered task writes nothing twice.
    slot = models.DateTimeField()
    operating = models.FloatField(null=True, blank=True, help_text="time.operating, seconds")
    redirect_url = models.URLField(max_length=500, blank=True, default="")
    # Something changed since the bot's previous verification (or it is the first, or manual):
    # the row outlives its raw partition as a VerificationChange.
    changed = models.BooleanField(default=False)

    class Meta:
        ordering = ["-checked_at"]
        # In the database the primary key is (id, slot), as partitioning by slot requires
        # (checks/migrations/0001_initial.py).
        constraints = [models.UniqueConstraint(fields=["bot", "slot"], name="verification_once_per_slot")]

    @property
    def counters(self) -> dict | None:
        return counters_of(self)


# What a change row keeps of its verification (and what the history table shows of either).
CHANGE_FIELDS = ["bot_id", "portal_id", *(field.attname for field in Outcome._meta.fields)]


class VerificationChange(Outcome):
    """A verification that changed something, kept after the raw rows of its day are dropped."""

    bot = models.ForeignKey(Bot, on_delete=models.CASCADE, related_name="changes", db_index=False)
    portal = models.ForeignKey(Portal, on_delete=models.CASCADE, related_name="+", db_index=False)
    verification_id = models.BigIntegerField(unique=True, help_text="The raw row it was copied from")

    class Meta:
        ordering = ["-checked_at"]
        indexes = [models.Index(fields=["bot", "-checked_at"], name="change_bot_time")]


class CheckHour(models.Model):
    """Every check of one bot in one local hour, packed (checks.history.checklog): the raw history.

    Written when the bot's next check starts a new hour (or its open hour is full), from the
    entries kept on the bot's row meanwhile (Bot.hour_checks); the hourly history job closes
    the hours of bots that are no longer checked.
    """

    # The primary key is the one index: a bot's hours in order (its pages, the fold).
    pk = models.CompositePrimaryKey("bot_id", "hour")
    bot = models.ForeignKey(Bot, on_delete=models.CASCADE, related_name="hours")
    hour = models.DateTimeField(help_text="Start of the local hour")
    data = models.BinaryField(help_text="36 bytes per check (checks.history.checklog)")

    class Meta:
        ordering = ["bot_id", "hour"]


class CheckTally(models.Model):
    """Checks recorded so far, by status, per portal: botwatch_verifications_total.

    Each run adds its checks to its portal's row in the statement that records them, so the
    totals are exact and current without counting history. No foreign key: the row of a
    deleted portal stays (a Prometheus counter must never go down). Portal 0 holds what was
    counted before the totals were kept per portal.
    """

    portal_id = models.BigIntegerField(primary_key=True)
    counts = models.JSONField(default=dict, blank=True, help_text='{"ok": 1234, "not_found": 5}')
    updated_at = models.DateTimeField(default=timezone.now, help_text="When its last run was recorded")


class BotEvent(models.Model):
    """Something that happened to a bot's configuration: a change seen, a new id accepted, an expectation set."""

    class Kind(models.TextChoices):
        CONFIG_CHANGED = "config_changed", _("Configuration changed")
        ID_ACCEPTED = "id_accepted", _("New id accepted")
        EXPECT_SET = "expect_set", _("Expectation set")

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
    """Per-bot daily aggregate that outlives the raw verifications (charts, uptime).

    `hours` packs each local hour of the day (checks.history.days): checks, failures, latency and the
    hour's last counters, so uptime over any whole hours stays exact and the 7-day chart keeps
    one point an hour.
    """

    bot = models.ForeignKey(Bot, on_delete=models.CASCADE, related_name="daily_stats")
    day = models.DateField()
    checks = models.PositiveIntegerField(default=0)
    failures = models.PositiveIntegerField(default=0)
    total_duration_ms = models.BigIntegerField(default=0)
    count_message = models.BigIntegerField(null=True, blank=True)
    count_command = models.BigIntegerField(null=True, blank=True)
    count_chat = models.BigIntegerField(null=True, blank=True)
    count_user = models.BigIntegerField(null=True, blank=True)
    hours = models.BinaryField(default=b"", blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["bot", "day"], name="dailystat_once_per_day")]
        # Retention deletes whole days.
        indexes = [models.Index(fields=["day"], name="dailystat_day")]

    @property
    def uptime(self) -> float | None:
        return (self.checks - self.failures) / self.checks if self.checks else None
