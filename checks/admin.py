"""Django admin for BotWatch's models. Secrets are write-only: a masked hint, never the value.

Packed history (CheckHour, CheckTally) is left out: its rows are bit-packed days and
hours that only the history room can read; the bot pages and the API show them.
"""

from django import forms
from django.contrib import admin
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html

from checks.alerts.channel_urls import label
from checks.alerts.rules import validate_thresholds
from checks.forms import PORTAL_FIELDS, PortalRulesForm, SecretFieldsForm, secret_field
from checks.models import (
    AnswerProbe,
    ApiToken,
    AuditLog,
    Bot,
    BotEvent,
    Channel,
    ChannelDelivery,
    CredentialWarning,
    DailyStat,
    Heartbeat,
    Incident,
    IncidentEvent,
    MaintenanceWindow,
    Notification,
    Portal,
    Subscription,
    Verification,
    VerificationChange,
)
from checks.portal_file.expectations import validate_expect
from checks.portal_file.schema import validate_alert_emails, validate_bot_code, validate_customer, validate_tags

# The inline bot rows' prefix: the formset's default, the name of Portal.bots.
BOT_ROWS = "bots"


class PortalForm(PortalRulesForm):
    accept_hint = "type {hosts} in “Send stored credentials to”"
    webhook_code = secret_field("Webhook code")
    oauth_client_secret = secret_field("OAuth client secret")
    oauth_access_token = secret_field("OAuth access token")
    oauth_refresh_token = secret_field("OAuth refresh token")
    oauth_broker_secret = secret_field("Token broker secret")
    answer_webhook_code = secret_field("Answer probe webhook code")
    send_credentials_to = forms.CharField(
        required=False,
        label="Send stored credentials to",
        help_text="Only when the address moves to another host: that host, to send the stored secrets there "
        "(recorded in the audit log). Otherwise give them again.",
    )

    class Meta:
        model = Portal
        fields = (*PORTAL_FIELDS, "thresholds", "paused", "muted_until", "pace_rate", "pace_burst", "next_check_at")

    # The rules of the dashboard and the portal file (checks.forms.PortalRulesForm, checks/portal_file/schema.py).
    def clean_alert_emails(self) -> list[str]:
        return validate_alert_emails(self.cleaned_data["alert_emails"])

    def clean_customer_contacts(self) -> list[str]:
        return validate_customer({"contacts": self.cleaned_data["customer_contacts"] or []})["contacts"]

    def clean_tags(self) -> list[str]:
        return validate_tags(self.cleaned_data["tags"] or [])

    def clean_thresholds(self):
        try:
            return validate_thresholds(self.cleaned_data["thresholds"] or {})
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from None

    def clean(self):
        data = super().clean()
        self.check_move(self.renewed_bots(), data.get("send_credentials_to", ""))
        return data

    def renewed_bots(self) -> set[int]:
        """The stored bots the inline rows give a new token (or delete): their tokens go nowhere old.

        The inline formset is validated after this form, so its rows are read as posted.
        """
        prefix, renewed = BOT_ROWS, set()
        for index in range(_count(self.data.get(f"{prefix}-TOTAL_FORMS"))):
            row = f"{prefix}-{index}-"
            pk = self.data.get(row + "id", "")
            if pk.isdigit() and (self.data.get(row + "bot_token", "").strip() or self.data.get(row + "DELETE")):
                renewed.add(int(pk))
        return renewed


def _count(value: object) -> int:
    return min(int(value), 10_000) if isinstance(value, str) and value.isdigit() else 0


class BotForm(SecretFieldsForm):
    secret_fields = ("bot_token",)
    bot_token = secret_field("Bot token")

    class Meta:
        model = Bot
        fields = (
            "portal",
            "code",
            "bot_id",
            "enabled",
            "muted_until",
            "expect",
            "backlog_minutes",
            "answer",
            "silence",
        )

    def clean_expect(self):
        clean, problems = validate_expect(self.cleaned_data.get("expect"))
        if problems:
            raise forms.ValidationError([f"{where}: {message}" for where, message in problems])
        return clean

    def clean_code(self) -> str:
        return validate_bot_code(self.cleaned_data["code"])


class BotInline(admin.TabularInline):
    model = Bot
    form = BotForm
    fields = ("code", "bot_id", "bot_token", "enabled", "status", "last_checked_at")
    readonly_fields = ("status", "last_checked_at")
    extra = 0
    show_change_link = True


class AuditedAdmin(admin.ModelAdmin):
    """Every save and delete through the admin goes into BotWatch's audit log: plain fields old -> new,
    secrets as "changed", a host move an admin accepted with its hosts."""

    def save_model(self, request, obj, form, change):
        changes = {}
        secrets = getattr(form, "secret_fields", ())
        for name in form.changed_data:
            before, after = _plain(form.initial.get(name)), _plain(form.cleaned_data.get(name))
            if name in secrets and form.cleaned_data.get(name):
                changes[name] = "changed"  # never the value
            elif name not in secrets and name != "send_credentials_to" and before != after:
                changes[name] = [before, after]
        move = form.move() if isinstance(form, PortalRulesForm) else None
        if move is not None:
            changes["moves"] = move.audit()
        super().save_model(request, obj, form, change)
        _audit(request, f"{'edit' if change else 'add'} {obj._meta.model_name} (admin)", obj, changes)

    def delete_model(self, request, obj):
        _audit(request, f"delete {obj._meta.model_name} (admin)", obj, {})
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            _audit(request, f"delete {obj._meta.model_name} (admin)", obj, {})
        super().delete_queryset(request, queryset)

    def save_formset(self, request, form, formset, change):
        super().save_formset(request, form, formset, change)
        tokens = [f.instance.label for f in formset.forms if f.cleaned_data.get("bot_token")]
        saved = [bot.label for bot in formset.new_objects + [bot for bot, _ in formset.changed_objects]]
        if saved or formset.deleted_objects or tokens:
            deleted = [bot.label for bot in formset.deleted_objects]
            changes = {"bots": {"saved": saved, "deleted": deleted, "tokens changed": tokens}}
            _audit(request, "edit bots (admin)", form.instance, changes)


def _plain(value: object) -> object:
    """A value as JSON keeps it in the audit log."""
    return value if value is None or isinstance(value, (str, int, float, bool, list, dict)) else str(value)


def _audit(request, action: str, obj, changes: dict) -> None:
    AuditLog.record(request.user, request.user.get_username(), action, obj, changes)


@admin.register(Portal)
class PortalAdmin(AuditedAdmin):
    form = PortalForm
    list_display = ("name", "url", "auth_type", "status", "plan", "paused", "next_check_at")
    list_filter = ("auth_type", "status", "paused")
    search_fields = ("name", "url")
    inlines = [BotInline]
    readonly_fields = ("oauth_expires_at", "oauth_refreshed_at", "batch_supported", "blocked_until", "redirected_to")


@admin.register(Bot)
class BotAdmin(AuditedAdmin):
    form = BotForm
    list_display = ("label", "portal", "status", "problem_list", "status_since", "last_checked_at", "enabled")
    list_filter = ("status", "enabled", "portal")
    search_fields = ("code", "portal__name")
    list_select_related = ("portal",)
    readonly_fields = ("pinned_id", "remote_id", "problems", "baseline", "event_backlog_s", "commands_seen")

    @admin.display(description="Problems")
    def problem_list(self, bot: Bot) -> str:
        return "; ".join(f"{p.get('check')}: {p.get('detail')}" for p in bot.problems or [])


class ReadOnlyAdmin(admin.ModelAdmin):
    """History is written by the engine; the admin shows it."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Verification)
class VerificationAdmin(ReadOnlyAdmin):
    list_display = (
        "checked_at", "bot", "status", "by_portal", "error_code", "problem_list", "http_status", "duration_ms",
    )  # fmt: skip
    list_filter = ("status",)

    @admin.display(description="Problems")
    def problem_list(self, row: Verification) -> str:
        return "; ".join(f"{p.get('check')}: {p.get('detail')}" for p in row.problems or [])

    list_select_related = ("bot__portal",)
    raw_id_fields = ("bot", "portal")
    date_hierarchy = "checked_at"


@admin.register(VerificationChange)
class VerificationChangeAdmin(VerificationAdmin):
    """The verifications that changed something, kept after their day's raw rows are dropped."""

    list_display = ("checked_at", "bot", "status", "error_code", "problem_list")


@admin.register(DailyStat)
class DailyStatAdmin(ReadOnlyAdmin):
    list_display = ("day", "bot", "checks", "failures")
    list_select_related = ("bot__portal",)


class IncidentEventInline(admin.TabularInline):
    model = IncidentEvent
    extra = 0
    fields = ("created_at", "kind", "status", "user", "note")
    readonly_fields = fields


@admin.register(Incident)
class IncidentAdmin(admin.ModelAdmin):
    list_display = ("subject", "kind", "state", "status", "opened_at", "resolved_at", "acknowledged_at")
    list_filter = ("kind", "state", "status")
    list_select_related = ("bot__portal", "portal")
    raw_id_fields = ("bot", "portal", "wave")
    inlines = [IncidentEventInline]


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "portal", "kind", "state", "attempts", "sent_at")
    list_filter = ("state", "kind")


@admin.register(ChannelDelivery)
class ChannelDeliveryAdmin(ReadOnlyAdmin):
    # The URL is a secret: the admin shows its mask (label) and fingerprint, never the URL.
    exclude = ("url",)
    list_display = ("created_at", "label", "state", "attempts", "sent_at", "notification")
    list_filter = ("state",)
    raw_id_fields = ("notification",)


@admin.register(Channel)
class ChannelAdmin(ReadOnlyAdmin):
    """Channels are added, edited and tested on the dashboard's Notifications page, the one form
    that keeps their URL encrypted and masked; the admin lists them, never showing the URL."""

    exclude = ("url",)
    list_display = ("name", "address", "is_default", "from_settings", "created_at", "notifications_page")
    list_filter = ("is_default", "from_settings")

    @admin.display(description="Address")
    def address(self, channel: Channel) -> str:
        return label(channel.url)

    @admin.display(description="Edit")
    def notifications_page(self, channel: Channel) -> str:
        try:
            return format_html('<a href="{}">Notifications page</a>', reverse("dashboard:notifications"))
        except NoReverseMatch:  # an admin mounted without the dashboard
            return "—"


@admin.register(AnswerProbe)
class AnswerProbeAdmin(ReadOnlyAdmin):
    list_display = ("sent_at", "bot", "dialog", "outcome", "answer_ms", "error_code", "reads")
    list_filter = ("outcome",)
    list_select_related = ("bot__portal",)
    raw_id_fields = ("bot",)
    date_hierarchy = "sent_at"


@admin.register(MaintenanceWindow)
class MaintenanceWindowAdmin(admin.ModelAdmin):
    list_display = ("portal", "bot", "describe", "note")
    raw_id_fields = ("bot",)

    @admin.display(description="When")
    def describe(self, window: MaintenanceWindow) -> str:
        return window.describe()


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin):
    list_display = ("user", "portal")


@admin.register(BotEvent)
class BotEventAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "bot", "kind", "note", "user")
    list_filter = ("kind",)
    list_select_related = ("bot__portal",)


@admin.register(CredentialWarning)
class CredentialWarningAdmin(ReadOnlyAdmin):
    list_display = ("portal", "bot", "kind", "since")
    list_filter = ("kind",)


@admin.register(Heartbeat)
class HeartbeatAdmin(ReadOnlyAdmin):
    list_display = ("name", "seen_at")


@admin.register(AuditLog)
class AuditLogAdmin(ReadOnlyAdmin):
    list_display = ("at", "actor", "action", "object_type", "object_repr")
    list_filter = ("action",)


@admin.register(ApiToken)
class ApiTokenAdmin(ReadOnlyAdmin):
    """Tokens are created on the Account page or with create_api_token; only their hash is stored."""

    list_display = ("name", "role", "hint", "created_by", "created_at", "last_used_at")
    list_filter = ("role",)
    fields = ("name", "role", "hint", "created_by", "created_at", "last_used_at")
