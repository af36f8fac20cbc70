"""Dashboard forms. Secrets are write-only: PasswordInput that never renders the stored value."""

from datetime import UTC, timedelta
from urllib.parse import urlsplit

import yaml
from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import UserCreationForm
from django.core.validators import validate_email
from django.forms import BaseInlineFormSet, inlineformset_factory
from django.utils import timezone

from checks.expectations import MAX_BACKLOG_MINUTES, validate_backlog_minutes, validate_expect
from checks.forms import SecretFieldsForm, secret_field
from checks.models import ApiToken, AuthType, Bot, MaintenanceWindow, Portal
from dashboard.roles import Role

MUTE_CHOICES = [
    ("1h", "1 hour"),
    ("4h", "4 hours"),
    ("24h", "24 hours"),
    ("7d", "7 days"),
    ("off", "Unmute"),
]
MUTE_DELTAS = {"1h": timedelta(hours=1), "4h": timedelta(hours=4), "24h": timedelta(days=1), "7d": timedelta(days=7)}


class DashboardSecretsForm(SecretFieldsForm):
    """The dashboard's wording of the stored-secret hint; nothing is said of a secret not set."""

    keep_hint = "Set — leave empty to keep the stored value."
    unset_hint = ""
    stored_placeholder = "•••••• (set)"


class MuteForm(forms.Form):
    duration = forms.ChoiceField(choices=MUTE_CHOICES, label="Mute alerts for")

    def until(self):
        choice = self.cleaned_data["duration"]
        return None if choice == "off" else timezone.now() + MUTE_DELTAS[choice]


class AckForm(forms.Form):
    note = forms.CharField(
        required=False, max_length=2000, widget=forms.TextInput(attrs={"placeholder": "Note (optional)"})
    )


class LocalDateTimeField(forms.DateTimeField):
    """A datetime-local input; the viewer's UTC offset comes in the form's tz_offset (app.js)."""

    widget = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")
    input_formats = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"]


class MaintenanceForm(forms.ModelForm):
    starts_at = LocalDateTimeField(label="Starts")
    ends_at = LocalDateTimeField(label="Ends")
    tz_offset = forms.IntegerField(required=False, widget=forms.HiddenInput, min_value=-900, max_value=900)

    class Meta:
        model = MaintenanceWindow
        fields = ["bot", "starts_at", "ends_at", "note"]

    def __init__(self, *args, portal: Portal | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["bot"].required = False
        self.fields["bot"].empty_label = "Every bot of the portal"
        self.fields["bot"].queryset = Bot.objects.filter(portal=portal).only("id", "code", "bot_id", "portal_id")
        self.fields["bot"].label_from_instance = lambda bot: bot.label

    def clean(self):
        data = super().clean()
        # The browser sends wall-clock time; JS getTimezoneOffset() is minutes to ADD to get UTC.
        offset = timedelta(minutes=data.get("tz_offset") or 0)
        for name in ("starts_at", "ends_at"):
            value = data.get(name)
            if value is not None:
                data[name] = (value.replace(tzinfo=None) + offset).replace(tzinfo=UTC)
        if data.get("starts_at") and data.get("ends_at") and data["ends_at"] <= data["starts_at"]:
            self.add_error("ends_at", "The window must end after it starts.")
        return data


class PortalForm(DashboardSecretsForm):
    alert_emails = forms.CharField(
        required=False,
        label="Alert emails",
        help_text="Comma-separated; empty: the default recipients (BOTWATCH_ALERT_EMAILS).",
    )
    secret_fields = Portal.SECRET_FIELDS
    webhook_code = secret_field("Webhook code")
    oauth_client_secret = secret_field("Client secret")
    oauth_access_token = secret_field("Access token")
    oauth_refresh_token = secret_field("Refresh token")
    oauth_broker_secret = secret_field("Broker secret")

    class Meta:
        model = Portal
        fields = [
            "name",
            "url",
            "auth_type",
            "webhook_user_id",
            "oauth_client_id",
            "oauth_broker_url",
            "alert_emails",
            "interval",
            "pace_rate",
            "pace_burst",
            "paused",
        ]
        widgets = {"auth_type": forms.RadioSelect}
        labels = {
            "url": "Address",
            "auth_type": "Authentication",
            "webhook_user_id": "Webhook user id",
            "oauth_client_id": "Client id",
            "oauth_broker_url": "Token broker address",
        }
        help_texts = {
            "oauth_broker_url": "Optional: your app's backend hands out its access token here and BotWatch never "
            "refreshes (refresh tokens are single-use). Leave empty to give BotWatch a refresh token instead.",
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.initial["alert_emails"] = ", ".join(self.instance.alert_emails or [])

    def clean_url(self) -> str:
        return _https_only(self.cleaned_data["url"].rstrip("/"))

    def clean_oauth_broker_url(self) -> str:
        url = self.cleaned_data.get("oauth_broker_url", "")
        return _https_only(url) if url else url

    def clean_alert_emails(self) -> list[str]:
        emails = [e.strip() for e in self.cleaned_data["alert_emails"].replace(";", ",").split(",") if e.strip()]
        for email in emails:
            try:
                validate_email(email)
            except forms.ValidationError:
                raise forms.ValidationError(f"{email!r} is not an email address.") from None
        return emails

    def clean_interval(self):
        interval = self.cleaned_data.get("interval")
        if interval is not None and interval < 30:
            raise forms.ValidationError("At least 30 seconds.")
        return interval

    def clean(self):
        data = super().clean()
        if data.get("auth_type") == AuthType.WEBHOOK:
            if not data.get("webhook_user_id"):
                self.add_error("webhook_user_id", "Required for webhook portals.")
            self._require_secret("webhook_code", "Required for webhook portals.")
        elif data.get("auth_type") == AuthType.OAUTH:
            if not data.get("oauth_client_id"):
                self.add_error("oauth_client_id", "Required for OAuth portals.")
            if data.get("oauth_broker_url"):
                self._require_secret("oauth_broker_secret", "Required with a token broker.")
                self._brokered()
            else:
                for name in ("oauth_client_secret", "oauth_access_token", "oauth_refresh_token"):
                    self._require_secret(name, "Required for OAuth portals without a token broker.")
                self.instance.oauth_broker_secret = ""
        return data

    def _brokered(self) -> None:
        """The app's backend owns the refresh chain: BotWatch keeps no copy of it (checks.portal_file does the same)."""
        for name in ("oauth_client_secret", "oauth_refresh_token"):
            if self.cleaned_data.get(name):
                self.add_error(name, "Leave empty with a token broker: the broker hands out the access token.")
        if self.instance.oauth_broker_url != self.cleaned_data.get("oauth_broker_url"):
            self.instance.oauth_access_token = ""  # the new broker's token, at the first call
            self.instance.oauth_expires_at = None
        self.instance.oauth_client_secret = self.instance.oauth_refresh_token = ""
        self.instance.oauth_refresh_issued_at = None

    def _require_secret(self, name: str, message: str) -> None:
        if not self.has_secret(name):
            self.add_error(name, message)


def _https_only(url: str) -> str:
    scheme = urlsplit(url).scheme
    if scheme != "https" and not (scheme == "http" and settings.BOTWATCH_ALLOW_HTTP):
        raise forms.ValidationError("Bitrix24 requires HTTPS; set BOTWATCH_ALLOW_HTTP=1 to allow http.")
    return url


class BotForm(DashboardSecretsForm):
    secret_fields = ("bot_token",)
    bot_token = secret_field("Bot token")
    expect_text = forms.CharField(
        required=False,
        label="Expect",
        max_length=2000,
        help_text="Optional, as in the portal file: {eventMode: fetch, language: de, commands: [help]}",
    )

    class Meta:
        model = Bot
        fields = ["code", "bot_id", "enabled", "backlog_minutes"]
        labels = {"bot_id": "Bot id", "backlog_minutes": "Backlog minutes"}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["code"].required = False
        self.fields["backlog_minutes"].widget.attrs.update(placeholder="15", min=1, max=MAX_BACKLOG_MINUTES)
        if self.instance.expect:
            self.initial["expect_text"] = yaml.safe_dump(self.instance.expect, default_flow_style=True).strip()

    def clean_backlog_minutes(self):
        value = self.cleaned_data.get("backlog_minutes")
        message = validate_backlog_minutes(value)
        if message:
            raise forms.ValidationError(f"Backlog minutes {message}.")
        return value

    def clean_expect_text(self):
        text = self.cleaned_data.get("expect_text", "").strip()
        try:
            data = yaml.safe_load(text) if text else None
        except yaml.YAMLError:
            raise forms.ValidationError("Not YAML: write it as in the portal file, e.g. {eventMode: fetch}.") from None
        clean, problems = validate_expect(data)
        if problems:
            raise forms.ValidationError([f"{where}: {message}" for where, message in problems])
        self.instance.expect = clean
        return text

    def has_changed(self) -> bool:
        # An extra row left blank is no bot at all, whatever its "enabled" box says.
        if not self.instance.pk and not any(self.data.get(self.add_prefix(f)) for f in ("code", "bot_id", "bot_token")):
            return False
        return super().has_changed()

    def clean(self):
        data = super().clean()
        if not data.get("code") and not data.get("bot_id") and not data.get("DELETE"):
            raise forms.ValidationError("Give the bot's code or its id.")
        if data.get("bot_id"):
            # The id typed is the one to verify by (it accepts a re-registered bot's new id).
            self.instance.pinned_id = data["bot_id"]
        return data


class BaseBotFormSet(BaseInlineFormSet):
    def check_tokens(self, auth_type: str) -> bool:
        """Webhook calls carry each bot's token (SPEC §4): it must be set, typed now or stored."""
        ok = True
        if auth_type != AuthType.WEBHOOK:
            return ok
        for form in self.live_forms():
            if not form.has_secret("bot_token"):
                form.add_error("bot_token", "Required for webhook portals.")
                ok = False
        return ok

    def live_forms(self) -> list[BotForm]:
        """Forms that describe a bot to keep: filled in and not marked for deletion."""
        return [
            f
            for f in self.forms
            if f.has_changed() or f.instance.pk
            if not (self.can_delete and self._should_delete_form(f))
        ]


BotFormSet = inlineformset_factory(
    Portal, Bot, form=BotForm, formset=BaseBotFormSet, extra=1, can_delete=True, min_num=0
)


class PortalFileForm(forms.Form):
    file = forms.FileField(required=False, help_text="YAML or JSON, as manage.py import_portals reads it.")
    text = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 10}), label="…or paste it here")

    def clean(self):
        data = super().clean()
        upload = data.get("file")
        if upload:
            try:
                data["content"] = upload.read().decode("utf-8")
            except UnicodeDecodeError:
                raise forms.ValidationError("The file is not UTF-8 text.") from None
            data["fmt"] = "json" if upload.name.lower().endswith(".json") else None
        elif data.get("text", "").strip():
            data["content"] = data["text"]
            data["fmt"] = None
        else:
            raise forms.ValidationError("Choose a file or paste its content.")
        return data


ROLE_CHOICES = [(r.group_name, r.group_name.capitalize()) for r in (Role.VIEWER, Role.OPERATOR, Role.ADMIN)] + [
    ("none", "No access")
]


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=ROLE_CHOICES)

    def role_value(self) -> Role:
        name = self.cleaned_data["role"]
        return Role.NONE if name == "none" else Role[name.upper()]


class UserCreateForm(UserCreationForm):
    email = forms.EmailField(required=False)
    role = forms.ChoiceField(choices=ROLE_CHOICES[:3], initial="viewer")

    class Meta(UserCreationForm.Meta):
        model = get_user_model()
        fields = ("username", "email")


class AccountEmailForm(forms.ModelForm):
    """The user's own email address: where the alerts they subscribe to are sent."""

    class Meta:
        model = get_user_model()
        fields = ["email"]
        labels = {"email": "Email address"}
        help_texts = {"email": "Alerts you subscribe to are sent here. Empty: no alert emails reach you."}
        error_messages = {"email": {"invalid": "This is not an email address (expected name@example.com)."}}

    def clean_email(self) -> str:
        return get_user_model().objects.normalize_email(self.cleaned_data["email"])


class ApiTokenForm(forms.Form):
    """A new API token: what will use it, and its role (write needs the admin role)."""

    name = forms.CharField(
        max_length=100, label="Token name", help_text="What will use it, e.g. grafana or the app's install handler."
    )
    role = forms.ChoiceField(choices=ApiToken.Role.choices, initial=ApiToken.Role.READ, widget=forms.RadioSelect)

    def __init__(self, *args, may_write: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.may_write = may_write
        if not may_write:
            self.fields["role"].help_text = "Write tokens change portals and bots: an admin creates those."

    def clean_role(self) -> str:
        role = self.cleaned_data["role"]
        if role == ApiToken.Role.WRITE and not self.may_write:
            raise forms.ValidationError("Only admins create write tokens.")
        return role
