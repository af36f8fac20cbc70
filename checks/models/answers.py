"""Answer probes: a message BotWatch wrote to a bot as a customer would, and when the bot answered."""

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from checks.models.bots import Bot


class AnswerProbe(models.Model):
    """One probe: sent (or not), then read until the bot's user wrote after it or `within` passed.

    Its own small table, kept for a while (checks.engine.answers.PROBES_KEPT), not packed with
    the checks: a probe ends minutes after the check that sent it, in another task.
    """

    class Outcome(models.TextChoices):
        PENDING = "pending", _("Waiting for the answer")
        ANSWERED = "answered", _("Answered")
        NO_ANSWER = "no_answer", _("No answer")
        REFUSED = "refused", _("Refused")
        NOT_SENT = "not_sent", _("Not sent")  # the send failed and the dialog showed no message: nothing to read

    bot = models.ForeignKey(Bot, on_delete=models.CASCADE, related_name="answer_probes")
    sent_at = models.DateTimeField(default=timezone.now)
    dialog = models.CharField(max_length=30)
    text = models.CharField(max_length=500)
    message_id = models.PositiveBigIntegerField(null=True, blank=True)
    portal_sent_at = models.FloatField(null=True, blank=True, help_text="The portal's clock at the send (epoch)")
    deadline = models.DateTimeField()
    next_read_at = models.DateTimeField(null=True, blank=True)
    reads = models.PositiveIntegerField(default=0)
    outcome = models.CharField(max_length=10, choices=Outcome.choices, default=Outcome.PENDING)
    answered_at = models.DateTimeField(null=True, blank=True)
    answer_ms = models.PositiveIntegerField(null=True, blank=True)
    error_code = models.CharField(max_length=100, blank=True, default="")
    detail = models.CharField(max_length=300, blank=True, default="")

    class Meta:
        ordering = ["-sent_at", "-pk"]
        indexes = [
            # Bot page and API: a bot's probes, newest first; verify: its probe of this run.
            models.Index(fields=["bot", "-sent_at"], name="answerprobe_bot_time"),
            # The beat's sweep for reads whose task was lost: pending probes by their next read.
            models.Index(fields=["next_read_at"], name="answerprobe_pending", condition=models.Q(outcome="pending")),
        ]

    @property
    def done(self) -> bool:
        return self.outcome != self.Outcome.PENDING
