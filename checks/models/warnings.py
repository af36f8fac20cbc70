"""Credential warnings: not incidents, shown on pages and sent in a weekly digest."""

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from checks.models.bots import Bot
from checks.models.portals import Portal


class CredentialWarning(models.Model):
    """A credential that works today but will bite: refreshed hourly by checks.alerts.credentials."""

    class Kind(models.TextChoices):
        LONG_BOT_TOKEN = "long_bot_token", _("Bot token over 40 characters")
        OLD_REFRESH_TOKEN = "old_refresh_token", _("OAuth refresh token older than 150 days")

    portal = models.ForeignKey(Portal, on_delete=models.CASCADE, related_name="credential_warnings")
    bot = models.ForeignKey(Bot, null=True, blank=True, on_delete=models.CASCADE, related_name="credential_warnings")
    kind = models.CharField(max_length=30, choices=Kind.choices)
    detail = models.TextField()
    since = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["portal_id", "bot_id", "kind"]
        constraints = [
            models.UniqueConstraint(
                fields=["portal", "bot", "kind"], condition=Q(bot__isnull=False), name="credwarn_once_per_bot"
            ),
            models.UniqueConstraint(
                fields=["portal", "kind"], condition=Q(bot__isnull=True), name="credwarn_once_per_portal"
            ),
        ]
