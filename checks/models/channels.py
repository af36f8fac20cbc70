"""Notification channels as named objects, and deliveries to them: one row per notification and channel."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from checks.crypto import EncryptedTextField
from checks.models.incidents import Notification
from checks.models.portals import Language


def instance_language() -> str:
    """BOTWATCH_LANGUAGE: what a channel speaks unless told otherwise (those seeded from BOTWATCH_NOTIFY_URLS too)."""
    return settings.BOTWATCH_LANGUAGE


class Channel(models.Model):
    """A named channel (an Apprise URL or a Bitrix24 chat) on the Notifications page.

    The URL is a secret (tokens and webhook codes live in it): encrypted, shown masked, never
    logged. `is_default` sends every portal's alerts there (unless a portal replaces the
    defaults); portals name their own channels and routes by URL, each of which has a row here.
    """

    name = models.CharField(max_length=100, unique=True)
    url = EncryptedTextField()
    # checks.alerts.channel_urls.fingerprint(url): finds the row of a URL without decrypting every row.
    fingerprint = models.CharField(max_length=64, unique=True)
    is_default = models.BooleanField(default=False)
    # Seeded from BOTWATCH_NOTIFY_URLS (checks.alerts.channels.seed_default_channels).
    from_settings = models.BooleanField(default=False)
    # The language of its alerts (checks.alerts.channel_delivery renders each alert once per language).
    language = models.CharField(max_length=8, choices=Language.choices, default=instance_language)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ChannelDelivery(models.Model):
    """One notification to one channel (an Apprise URL or a Bitrix24 chat), claimed and retried like email.

    Written with its notification, in the same transaction; `(notification, fingerprint)` is unique,
    so a channel listed twice (defaults and the portal's own list) is sent to once.
    """

    State = Notification.State

    notification = models.ForeignKey(Notification, on_delete=models.CASCADE, related_name="channel_deliveries")
    # The named channel it went to, while that exists; the URL below is what was sent to.
    channel = models.ForeignKey(Channel, null=True, blank=True, on_delete=models.SET_NULL, related_name="deliveries")
    # The channel as it was when the alert happened: a secret, encrypted, never shown.
    url = EncryptedTextField()
    # checks.alerts.channel_urls: a keyed hash of the URL (tells channels apart) and its mask.
    fingerprint = models.CharField(max_length=64)
    label = models.CharField(max_length=200)
    # What it sends, in the channel's language as it was when the alert happened; rows written
    # before channels had languages have none and send the notification's chat text.
    language = models.CharField(max_length=8, blank=True, default="")
    title = models.CharField(max_length=300, blank=True, default="")
    body = models.TextField(blank=True, default="")
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True, default="")
    # Why it failed, as a key of checks.alerts.notifiers.REASONS: pages explain it in plain words.
    reason = models.CharField(max_length=20, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    # As on Notification: the retry sweep's due time, and a lease a conditional update takes.
    next_attempt_at = models.DateTimeField(default=timezone.now)
    claimed_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["notification", "fingerprint"], name="channel_delivery_once"),
        ]
        indexes = [
            # Retry sweep and the Alerts page: "pending channel deliveries that are due".
            models.Index(fields=["next_attempt_at"], name="channel_delivery_due", condition=Q(state="pending")),
            # Alerts page: "channel deliveries that failed for good lately".
            models.Index(fields=["created_at"], name="channel_delivery_failed", condition=Q(state="failed")),
            # Portal and Alerts pages: "the latest deliveries of these channels".
            models.Index(fields=["fingerprint", "-created_at"], name="channel_delivery_by_channel"),
        ]

    def __str__(self) -> str:
        return f"{self.label} ({self.get_state_display()})"
