"""Expected bots: named by code or id on a portal, with their current state."""

from django.db import models
from django.db.models import Q
from django.utils import timezone

from checks.crypto import EncryptedTextField
from checks.models.portals import Portal
from checks.status import BotState


def verification_pointer() -> models.ForeignKey:
    """A bot's pointer to one of its verifications.

    Kept by the engine's own write (checks.engine.pg sets it to the row it has just
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
    # The checks of the hour being checked now (checks.history.checklog), appended by each check in the
    # update it makes anyway; the next hour's first check moves them into a CheckHour row.
    hour_checks = models.BinaryField(default=b"", blank=True)
    hour_start = models.DateTimeField(null=True, blank=True, help_text="The local hour of hour_checks")

    # Health beyond existence (docs/statuses.md, "Health problems"): what the operator expects ...
    expect = models.JSONField(default=dict, blank=True, help_text="Expected configuration and commands")
    backlog_minutes = models.PositiveIntegerField(
        null=True, blank=True, help_text="Oldest pending event allowed (fetch mode); empty: 15"
    )
    # ... and what BotWatch learned: the id first seen (verified by it from then on, since a
    # lookup by code can match another application's bot), the configuration it had, the
    # problems of the last verification, the commands of the last Command.list.
    pinned_id = models.PositiveBigIntegerField(null=True, blank=True, help_text="Bot id first seen; verified by it")
    baseline = models.JSONField(default=dict, blank=True)
    problems = models.JSONField(default=list, blank=True)
    event_backlog_s = models.PositiveIntegerField(null=True, blank=True)
    commands_seen = models.JSONField(null=True, blank=True)
    commands_checked_at = models.DateTimeField(null=True, blank=True)

    # Does the bot answer? (docs/answer-probe.md) The probe asked for ({text, within, every, dialog};
    # empty: never a message), when the next is due, the last finished probe's problem ({} when it
    # answered), its answer time; and silence: seconds without growth of countMessage, and since when
    # countMessage last grew.
    answer = models.JSONField(default=dict, blank=True, help_text="Answer probe: text, within, every, dialog")
    answer_next_at = models.DateTimeField(null=True, blank=True)
    answer_problem = models.JSONField(default=dict, blank=True)
    last_answer_ms = models.PositiveIntegerField(null=True, blank=True)
    silence = models.PositiveIntegerField(null=True, blank=True, help_text="Seconds without new messages allowed")
    message_growth_at = models.DateTimeField(null=True, blank=True)

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
