"""Dashboard forms. Secrets are write-only: PasswordInput that never renders the stored value."""

from datetime import UTC, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import UserCreationForm
from django.utils import timezone

from checks.alerts.channel_urls import fingerprint, is_channel_url, label
from checks.alerts.channels import check_notify, check_routes
from checks.forms import PortalRulesForm, SecretFieldsForm, secret_field
from checks.models import Bot, MaintenanceWindow, NotifyMode, Portal
from checks.portal_file.bounded import LimitError, check_size, load_yaml
from checks.portal_file.schema import validate_alert_emails, validate_customer, validate_tags
from dashboard.roles import Role

MUTE_CHOICES = [
    ("1h", "1 hour"),
    ("4h", "4 hours"),
    ("24h", "24 hours"),
    ("7d", "7 days"),
    ("off", "Unmute"),
]
MUTE_DELTAS = {"1h": timedelta(hours=1), "4h": timedelta(hours=4), "24h": timedelta(days=1), "7d": timedelta(days=7)}


def yaml_box(text: str, example: str) -> object:
    """A form box's YAML, read like the portal file (bounded: an alias bomb is refused unexpanded)."""
    try:
        return load_yaml(text)
    except LimitError as exc:
        raise forms.ValidationError(f"{exc}.") from None
    except yaml.YAMLError:
        raise forms.ValidationError(f"Not YAML: write it as in the portal file, e.g. {example}.") from None


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


WEEKDAYS = [(0, "Mon"), (1, "Tue"), (2, "Wed"), (3, "Thu"), (4, "Fri"), (5, "Sat"), (6, "Sun")]


class MaintenanceForm(forms.ModelForm):
    """A maintenance window: once (two dates in the viewer's time) or every week (days, times, timezone)."""

    repeat = forms.ChoiceField(
        choices=[("once", "Once"), ("weekly", "Every week")],
        initial="once",
        required=False,
        widget=forms.RadioSelect,
        label="Repeat",
    )
    starts_at = LocalDateTimeField(label="Starts", required=False)
    ends_at = LocalDateTimeField(label="Ends", required=False)
    weekdays = forms.TypedMultipleChoiceField(
        choices=WEEKDAYS, coerce=int, required=False, widget=forms.CheckboxSelectMultiple, label="On"
    )
    start_time = forms.TimeField(required=False, label="From", widget=forms.TimeInput(attrs={"type": "time"}))
    end_time = forms.TimeField(required=False, label="To", widget=forms.TimeInput(attrs={"type": "time"}))
    timezone = forms.CharField(
        required=False, max_length=64, initial="UTC", label="Timezone", help_text="e.g. UTC, Europe/Berlin"
    )
    every_portal = forms.BooleanField(required=False, label="Every portal")
    tz_offset = forms.IntegerField(required=False, widget=forms.HiddenInput, min_value=-900, max_value=900)

    class Meta:
        model = MaintenanceWindow
        fields = ["bot", "starts_at", "ends_at", "weekdays", "start_time", "end_time", "timezone", "note"]

    def __init__(self, *args, portal: Portal | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["bot"].required = False
        self.fields["bot"].empty_label = "Every bot of the portal"
        self.fields["bot"].queryset = Bot.objects.filter(portal=portal).only("id", "code", "bot_id", "portal_id")
        self.fields["bot"].label_from_instance = lambda bot: bot.label

    def clean(self):
        data = super().clean()
        if data.get("repeat") == "weekly":
            return self._clean_weekly(data)
        # The browser sends wall-clock time; JS getTimezoneOffset() is minutes to ADD to get UTC.
        offset = timedelta(minutes=data.get("tz_offset") or 0)
        for name, moment in (("starts_at", "start"), ("ends_at", "end")):
            value = data.get(name)
            if value is not None:
                data[name] = (value.replace(tzinfo=None) + offset).replace(tzinfo=UTC)
            elif name not in self.errors:
                self.add_error(name, f"Enter when the window should {moment}.")
        if data.get("starts_at") and data.get("ends_at") and data["ends_at"] <= data["starts_at"]:
            self.add_error("ends_at", "The window must end after it starts.")
        data.update(weekdays=[], start_time=None, end_time=None, timezone="UTC")
        return data

    def _clean_weekly(self, data: dict) -> dict:
        if not data.get("weekdays"):
            self.add_error("weekdays", "Pick at least one day of the week.")
        for name in ("start_time", "end_time"):
            if data.get(name) is None and name not in self.errors:
                self.add_error(name, "Enter a time, e.g. 02:00.")
        if data.get("start_time") is not None and data.get("start_time") == data.get("end_time"):
            self.add_error("end_time", "The window must end at another time than it starts.")
        zone = (data.get("timezone") or "UTC").strip()
        if not valid_timezone(zone):
            self.add_error("timezone", f"{zone!r} is not a timezone BotWatch knows; write it as UTC or Europe/Berlin.")
        data.update(timezone=zone, starts_at=None, ends_at=None, weekdays=sorted(set(data.get("weekdays") or [])))
        return data


def valid_timezone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


class WriteOnlyTextarea(forms.Textarea):
    """A textarea for secrets: what was typed is never rendered back, not even after an error."""

    def format_value(self, value):
        return None


class PortalForm(PortalRulesForm, DashboardSecretsForm):
    notify_add = forms.CharField(
        required=False,
        label="Add channels",
        widget=WriteOnlyTextarea(attrs={"rows": 3, "autocomplete": "off", "spellcheck": "false"}),
        help_text="One URL per line: slack://…, tgram://…, msteams://…, ntfy://…, json://… (a webhook), "
        "bitrix24s://portal/rest/USER_ID/CODE/?dialog=chatNN. Stored encrypted, shown as scheme and host only.",
    )
    notify_remove = forms.MultipleChoiceField(
        required=False, label="Remove channels", widget=forms.CheckboxSelectMultiple
    )
    routes_text = forms.CharField(
        required=False,
        label="Replace routes",
        widget=WriteOnlyTextarea(attrs={"rows": 3, "autocomplete": "off", "spellcheck": "false"}),
        help_text="As in the portal file: {auth_failed: [owner@example.com, slack://…], not_found: [tgram://…]}. "
        "A status listed here goes only there. Empty keeps the routes above.",
    )
    routes_clear = forms.BooleanField(required=False, label="Remove every route")
    alert_emails = forms.CharField(
        required=False,
        label="Alert emails",
        help_text="Comma-separated; empty: the default recipients (BOTWATCH_ALERT_EMAILS).",
    )
    customer_contacts = forms.CharField(
        required=False,
        label="Customer contacts",
        help_text="Comma-separated email addresses of the customer's own people (not alerted; for reports).",
    )
    tags = forms.CharField(
        required=False, label="Tags", help_text="Comma-separated words to filter by, e.g. premium, de."
    )
    accept_hint = "tick “Send the stored credentials to {hosts}”"
    webhook_code = secret_field("Webhook code")
    oauth_client_secret = secret_field("Client secret")
    oauth_access_token = secret_field("Access token")
    oauth_refresh_token = secret_field("Refresh token")
    # The host the operator agreed to send the stored secrets to (check_new_host); a checkbox in the page.
    confirm_credentials_host = forms.CharField(required=False, widget=forms.HiddenInput)
    oauth_broker_secret = secret_field("Broker secret")
    answer_webhook_code = secret_field("Probe user's webhook code")

    class Meta:
        model = Portal
        fields = [
            "name",
            "url",
            "auth_type",
            "webhook_user_id",
            "oauth_client_id",
            "oauth_broker_url",
            "answer_webhook_user_id",
            "alert_emails",
            "customer_name",
            "customer_contacts",
            "customer_notes",
            "tags",
            "language",
            "monthly_report",
            "interval",
            "pace_rate",
            "pace_burst",
            "paused",
            "notify_mode",
        ]
        widgets = {"auth_type": forms.RadioSelect, "notify_mode": forms.RadioSelect}
        labels = {
            "notify_mode": "Default channels",
            "url": "Address",
            "auth_type": "Authentication",
            "webhook_user_id": "Webhook user id",
            "oauth_client_id": "Client id",
            "oauth_broker_url": "Token broker address",
            "customer_name": "Customer",
            "customer_notes": "Notes",
            "answer_webhook_user_id": "Probe user's webhook user id",
        }
        help_texts = {
            "oauth_broker_url": "Optional: your app's backend hands out its access token here and BotWatch never "
            "refreshes (refresh tokens are single-use). Leave empty to give BotWatch a refresh token instead.",
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.initial["alert_emails"] = ", ".join(self.instance.alert_emails or [])
        self.initial["customer_contacts"] = ", ".join(self.instance.customer_contacts or [])
        self.initial["tags"] = ", ".join(self.instance.tags or [])
        self.fields["customer_notes"].widget.attrs["rows"] = 3
        # Not sent by older forms or scripts: keep what is stored (add, for a new portal).
        self.fields["notify_mode"].required = False
        self.fields["language"].required = False
        self.fields["notify_remove"].choices = [(fingerprint(url), label(url)) for url in self.instance.notify or []]
        # What the page may say of the stored routes: classes, emails, channel labels; never a URL.
        self.routes_shown = [
            (route, [label(t) if is_channel_url(t) else t for t in targets])
            for route, targets in sorted((self.instance.routes or {}).items())
        ]

    def clean_notify_mode(self) -> str:
        return self.cleaned_data.get("notify_mode") or self.instance.notify_mode or NotifyMode.ADD

    def clean_notify_add(self) -> list[str]:
        lines = [line.strip() for line in self.cleaned_data["notify_add"].splitlines() if line.strip()]
        clean, problems = check_notify(lines)
        if problems:
            raise forms.ValidationError([f"line {_line(place)}: {message}" for place, message in problems])
        return clean

    def clean_routes_text(self) -> dict | None:
        text = self.cleaned_data["routes_text"].strip()
        if not text:
            return None
        data = yaml_box(text, "{not_found: [tgram://…]}")
        clean, problems = check_routes(data)
        if problems:
            raise forms.ValidationError([f"{place}: {message}" for place, message in problems])
        return clean

    def apply_channels(self) -> list[str]:
        """Puts the channel changes on the instance; returns what changed (for the audit log, no values)."""
        data, changed = self.cleaned_data, []
        removed = set(data.get("notify_remove") or [])
        kept = [url for url in self.instance.notify or [] if fingerprint(url) not in removed]
        known = {fingerprint(url) for url in kept}
        notify = kept + [url for url in data.get("notify_add") or [] if fingerprint(url) not in known]
        if notify != list(self.instance.notify or []):
            self.instance.notify = notify
            changed.append("notify")
        routes = {} if data.get("routes_clear") else data.get("routes_text")
        if routes is not None and routes != (self.instance.routes or {}):
            self.instance.routes = routes
            changed.append("routes")
        return changed

    def clean_alert_emails(self) -> list[str]:
        return validate_alert_emails(_words(self.cleaned_data["alert_emails"]))

    def clean_customer_contacts(self) -> list[str]:
        return validate_customer({"contacts": _words(self.cleaned_data["customer_contacts"])})["contacts"]

    def clean_customer_notes(self) -> str:
        return validate_customer({"notes": self.cleaned_data["customer_notes"]})["notes"]

    def clean_tags(self) -> list[str]:
        return validate_tags(_words(self.cleaned_data["tags"]))

    def clean_language(self) -> str:
        # Not sent by older forms or scripts: keep what is stored.
        return self.cleaned_data["language"] or self.instance.language


def _words(text: str) -> list[str]:
    """A comma- (or semicolon-) separated box as its non-empty items."""
    return [word.strip() for word in text.replace(";", ",").split(",") if word.strip()]


def check_new_host(form: PortalForm, formset) -> bool:
    """The stored secrets follow a move to another host only when given again or confirmed for that host.

    Otherwise an error on the address naming each secret, and a checkbox to confirm (the page
    shows it for `form.pending_host`). Save and Test connection both ask, so neither sends them.
    Bots the request leaves out keep their stored tokens, so they count too.
    """
    live = formset.live_forms()
    renewed = {f.instance.pk for f in formset.forms if f.instance.pk and f not in live}  # deleted
    renewed |= {f.instance.pk for f in live if f.instance.pk and f.cleaned_data.get("bot_token")}
    return form.check_move(renewed, form.cleaned_data.get("confirm_credentials_host", ""))


def _line(place: str) -> int:
    """`notify[2]` -> 3: problems of the textarea by line number."""
    return int(place.rsplit("[", 1)[1].rstrip("]")) + 1


class PortalFileForm(forms.Form):
    file = forms.FileField(required=False, help_text="YAML or JSON, as manage.py import_portals reads it.")
    text = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 10}), label="…or paste it here")
    send_credentials_to = forms.CharField(
        required=False,
        label="Send stored credentials to",
        help_text="Hosts, comma-separated, that portals whose url moves there may take their stored secrets to "
        "(as import_portals --send-credentials-to); without one, give the secrets again in the file.",
    )

    def clean_send_credentials_to(self) -> list[str]:
        return [h.strip().lower() for h in self.cleaned_data["send_credentials_to"].split(",") if h.strip()]

    def clean(self):
        data = super().clean()
        upload = data.get("file")
        if upload:
            try:
                check_size(upload.size)  # before reading: a large upload is refused unread
            except LimitError as exc:
                message = str(exc)
                raise forms.ValidationError(f"{message[0].upper()}{message[1:]}.") from None
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
