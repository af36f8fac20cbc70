"""Portals: where bots live, with their credentials (encrypted at rest) and their schedule."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from checks.crypto import EncryptedJSONField, EncryptedTextField
from checks.status import BotState


class AuthType(models.TextChoices):
    WEBHOOK = "webhook", _("Incoming webhook")
    OAUTH = "oauth", _("OAuth application")


class NotifyMode(models.TextChoices):
    ADD = "add", _("Add to the default channels (BOTWATCH_NOTIFY_URLS)")
    REPLACE = "replace", _("Replace the default channels")


class Language(models.TextChoices):
    """What the customer reads the status page and the report in (locale/ holds the translations)."""

    EN = "en", "English"
    RU = "ru", "Русский"


class Portal(models.Model):
    # The encrypted columns: forms keep them write-only, lists defer them, emails scrub them.
    SECRET_FIELDS = (
        "webhook_code",
        "oauth_client_secret",
        "oauth_access_token",
        "oauth_refresh_token",
        "oauth_broker_secret",
        "answer_webhook_code",
    )
    # Channel URLs hold tokens too (checks.alerts.channels); shown masked, never rendered back.
    CHANNEL_FIELDS = ("notify", "routes")
    # The customer status page's token (checks.customer.links): encrypted, deferred like the rest.
    ENCRYPTED_FIELDS = SECRET_FIELDS + CHANNEL_FIELDS + ("status_token",)

    name = models.SlugField(
        max_length=100,
        unique=True,
        help_text=_("Unique label, e.g. acme"),
        error_messages={"invalid": _("The name may only hold letters, digits, '-' and '_' (no spaces), e.g. acme-eu.")},
    )
    url = models.URLField(max_length=500, help_text=_("Portal address; may carry a path prefix"))
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
    # When the stored refresh token was issued: they live 180 days (credential warning at 150).
    oauth_refresh_issued_at = models.DateTimeField(null=True, blank=True)
    # Or a token broker (docs/api.md): the app's own backend hands out its current access token
    # (GET broker_url, Authorization: Bearer broker_secret) and BotWatch never refreshes, since
    # a refresh token is single-use and the app refreshes the same chain (checks/bitrix24/broker.py).
    oauth_broker_url = models.URLField(max_length=500, blank=True, default="")
    oauth_broker_secret = EncryptedTextField(blank=True, default="")

    # A dedicated probe user's incoming webhook (scope im) for the answer probes; empty: the portal's own.
    answer_webhook_user_id = models.PositiveIntegerField(null=True, blank=True)
    answer_webhook_code = EncryptedTextField(blank=True, default="")

    alert_emails = models.JSONField(default=list, blank=True, help_text=_("Recipients; empty: BOTWATCH_ALERT_EMAILS"))
    # Whose portal it is, so a support team finds it by the customer's name and can reach them.
    customer_name = models.CharField(max_length=200, blank=True, default="")
    customer_contacts = models.JSONField(default=list, blank=True, help_text=_("The customer's email addresses"))
    customer_notes = models.TextField(max_length=2000, blank=True, default="")
    tags = models.JSONField(default=list, blank=True, help_text=_("Labels to filter by, e.g. premium, de"))
    # What the customer is shown (docs/customer-status.md): the status page's link, its language,
    # and whether the monthly report is emailed to customer_contacts.
    # The link's token is kept encrypted, so the team can copy the link again from the portal page
    # while a database dump alone reveals no live link; requests find it by its SHA-256 (the token
    # is 256 random bits, so a fast hash is enough, as for API tokens).
    status_token = EncryptedTextField(blank=True, default="")
    status_token_digest = models.CharField(max_length=64, null=True, blank=True, unique=True)
    language = models.CharField(
        max_length=5, choices=Language.choices, default=Language.EN, help_text=_("Of the status page and the report")
    )
    monthly_report = models.BooleanField(
        default=True, help_text=_("Email the monthly report to the customer's contacts")
    )
    interval = models.PositiveIntegerField(
        null=True, blank=True, help_text=_("Seconds between verifications; empty: BOTWATCH_CHECK_INTERVAL")
    )
    thresholds = models.JSONField(default=dict, blank=True, help_text=_("Per-status failures before alerting"))
    # Notification channels (Apprise URLs, Bitrix24 chats): with notify_mode, beside or instead
    # of BOTWATCH_NOTIFY_URLS; routes send a status class elsewhere: {status: [URL or email]}.
    notify = EncryptedJSONField(default=list, blank=True)
    notify_mode = models.CharField(max_length=10, choices=NotifyMode.choices, default=NotifyMode.ADD)
    routes = EncryptedJSONField(default=dict, blank=True)
    paused = models.BooleanField(default=False)
    muted_until = models.DateTimeField(null=True, blank=True)

    # Pacing: a leaky bucket shared by every worker, kept on the row (see checks/bitrix24/pacing.py).
    pace_rate = models.FloatField(default=1.0, help_text=_("Requests per second BotWatch allows itself"))
    pace_burst = models.PositiveIntegerField(default=5)
    pace_next_at = models.DateTimeField(null=True, blank=True)
    # OPERATION_TIME_LIMIT: no call before this time (Bitrix24's operating_reset_at).
    blocked_until = models.DateTimeField(null=True, blank=True)
    # None: not known yet; False: the portal refused imbot methods in batch.
    batch_supported = models.BooleanField(null=True, blank=True)
    # Set when the portal answered with a redirect (renamed portal); the operator updates url.
    redirected_to = models.URLField(max_length=500, blank=True, default="")
    # ...to another host or down to http: not followed, nothing sent there until the operator accepts it.
    redirect_refused = models.BooleanField(default=False)

    # Portal health: what the portal probe of the latest run said (server.time, profile,
    # app.info), in the status taxonomy of the bots; written with the run's verifications.
    status = models.CharField(max_length=20, choices=BotState.choices, default=BotState.PENDING)
    status_since = models.DateTimeField(null=True, blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    last_checked_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=100, blank=True, default="")
    last_error_description = models.TextField(blank=True, default="")
    last_http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    # Problems of the portal itself: [{"check", "detail", "key", "critical"}] (the webhook's user
    # switched off, the app's installation not finished).
    problems = models.JSONField(default=list, blank=True)
    # From app.info, read at least daily: the plan (LICENSE), the app's STATUS and INSTALLED, and
    # the end of its paid period (the day of the check + DAYS); the period warned about by email.
    app_info_checked_at = models.DateTimeField(null=True, blank=True)
    plan = models.CharField(max_length=50, blank=True, default="", help_text="app.info LICENSE, e.g. de_ent250")
    app_status = models.CharField(max_length=2, blank=True, default="")
    app_installed = models.BooleanField(null=True, blank=True)
    app_paid_until = models.DateField(null=True, blank=True)
    app_payment_expired = models.BooleanField(null=True, blank=True)
    payment_warned_for = models.DateField(null=True, blank=True)

    # Scheduling (checks.engine.claims): due time and a lease that a killed worker lets expire.
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

    @property
    def uses_broker(self) -> bool:
        return self.auth_type == AuthType.OAUTH and bool(self.oauth_broker_url)

    def is_muted(self, now=None) -> bool:
        return bool(self.muted_until and self.muted_until > (now or timezone.now()))
