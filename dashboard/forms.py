"""Dashboard forms. Secrets are write-only: PasswordInput that never renders the stored value."""

from datetime import UTC, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import UserCreationForm
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from checks.alerts.channel_urls import ChannelURLError, fingerprint, is_channel_url, validate_channel_url
from checks.alerts.channels import MAX_CHANNELS, ROUTE_CLASSES
from checks.forms import PORTAL_FIELDS, PortalRulesForm, SecretFieldsForm, secret_field
from checks.models import Bot, Channel, MaintenanceWindow, NotifyMode, Portal
from checks.portal_file.bounded import LimitError, check_size, load_yaml
from checks.portal_file.schema import validate_alert_emails, validate_customer, validate_tags
from dashboard.roles import Role

MUTE_CHOICES = [
    ("1h", _("1 hour")),
    ("4h", _("4 hours")),
    ("24h", _("24 hours")),
    ("7d", _("7 days")),
    ("off", _("Unmute")),
]
MUTE_DELTAS = {"1h": timedelta(hours=1), "4h": timedelta(hours=4), "24h": timedelta(days=1), "7d": timedelta(days=7)}


def yaml_box(text: str, example: str) -> object:
    """A form box's YAML, read like the portal file (bounded: an alias bomb is refused unexpanded)."""
    try:
        return load_yaml(text)
    except LimitError as exc:
        raise forms.ValidationError(f"{exc}.") from None
    except yaml.YAMLError:
        raise forms.ValidationError(
            _("Not YAML: write it as in the portal file, e.g. %(example)s.") % {"example": example}
        ) from None


class DashboardSecretsForm(SecretFieldsForm):
    """The dashboard's wording of the stored-secret hint; nothing is said of a secret not set."""

    keep_hint = _("Set — leave empty to keep the stored value.")
    unset_hint = ""
    stored_placeholder = "•••••• (set)"

    def forget_typed_secrets(self) -> None:
        """Renders no typed secret back: only a failed save keeps them (a test's page does not)."""
        for name in self.secret_fields:
            self.fields[name].widget.render_value = False


class MuteForm(forms.Form):
    duration = forms.ChoiceField(choices=MUTE_CHOICES, label=_("Mute alerts for"))

    def until(self):
        choice = self.cleaned_data["duration"]
        return None if choice == "off" else timezone.now() + MUTE_DELTAS[choice]


class AckForm(forms.Form):
    note = forms.CharField(
        required=False, max_length=2000, widget=forms.TextInput(attrs={"placeholder": _("Note (optional)")})
    )


class LocalDateTimeField(forms.DateTimeField):
    """A datetime-local input; the viewer's UTC offset comes in the form's tz_offset (app.js)."""

    widget = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")
    input_formats = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"]


WEEKDAYS = [(0, _("Mon")), (1, _("Tue")), (2, _("Wed")), (3, _("Thu")), (4, _("Fri")), (5, _("Sat")), (6, _("Sun"))]


class MaintenanceForm(forms.ModelForm):
    """A maintenance window: once (two dates in the viewer's time) or every week (days, times, timezone)."""

    repeat = forms.ChoiceField(
        choices=[("once", _("Once")), ("weekly", _("Every week"))],
        initial="once",
        required=False,
        widget=forms.RadioSelect,
        label=_("Repeat"),
    )
    starts_at = LocalDateTimeField(label=_("Starts"), required=False)
    ends_at = LocalDateTimeField(label=_("Ends"), required=False)
    weekdays = forms.TypedMultipleChoiceField(
        choices=WEEKDAYS, coerce=int, required=False, widget=forms.CheckboxSelectMultiple, label=_("On")
    )
    start_time = forms.TimeField(required=False, label=_("From"), widget=forms.TimeInput(attrs={"type": "time"}))
    end_time = forms.TimeField(required=False, label=_("To"), widget=forms.TimeInput(attrs={"type": "time"}))
    timezone = forms.CharField(
        required=False, max_length=64, initial="UTC", label=_("Timezone"), help_text=_("e.g. UTC, Europe/Berlin")
    )
    every_portal = forms.BooleanField(required=False, label=_("Every portal"))
    tz_offset = forms.IntegerField(required=False, widget=forms.HiddenInput, min_value=-900, max_value=900)

    class Meta:
        model = MaintenanceWindow
        fields = ["bot", "starts_at", "ends_at", "weekdays", "start_time", "end_time", "timezone", "note"]

    def __init__(self, *args, portal: Portal | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["bot"].required = False
        self.fields["bot"].empty_label = _("Every bot of the portal")
        self.fields["bot"].queryset = Bot.objects.filter(portal=portal).only("id", "code", "bot_id", "portal_id")
        self.fields["bot"].label_from_instance = lambda bot: bot.label

    def clean(self):
        data = super().clean()
        if data.get("repeat") == "weekly":
            return self._clean_weekly(data)
        # The browser sends wall-clock time; JS getTimezoneOffset() is minutes to ADD to get UTC.
        offset = timedelta(minutes=data.get("tz_offset") or 0)
        for name, problem in (
            ("starts_at", _("Enter when the window should start.")),
            ("ends_at", _("Enter when the window should end.")),
        ):
            value = data.get(name)
            if value is not None:
                data[name] = (value.replace(tzinfo=None) + offset).replace(tzinfo=UTC)
            elif name not in self.errors:
                self.add_error(name, problem)
        if data.get("starts_at") and data.get("ends_at") and data["ends_at"] <= data["starts_at"]:
            self.add_error("ends_at", _("The window must end after it starts."))
        data.update(weekdays=[], start_time=None, end_time=None, timezone="UTC")
        return data

    def _clean_weekly(self, data: dict) -> dict:
        if not data.get("weekdays"):
            self.add_error("weekdays", _("Pick at least one day of the week."))
        for name in ("start_time", "end_time"):
            if data.get(name) is None and name not in self.errors:
                self.add_error(name, _("Enter a time, e.g. 02:00."))
        if data.get("start_time") is not None and data.get("start_time") == data.get("end_time"):
            self.add_error("end_time", _("The window must end at another time than it starts."))
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


class MaskedInput(forms.PasswordInput):
    """A secret's input that, after a failed save, keeps what was typed in this request (shown as dots).

    The stored value is never rendered: only the form's data, sent by the same person just now.
    """

    def __init__(self, attrs=None):
        super().__init__(
            attrs={"autocomplete": "new-password", "spellcheck": "false", **(attrs or {})}, render_value=True
        )


def masked_secret_field(label: str) -> forms.CharField:
    field = secret_field(label)
    field.widget = MaskedInput()
    return field


class ChannelChoiceField(forms.ModelMultipleChoiceField):
    """Channels picked from the Notifications page's list, by name (the URL is never shown)."""

    def __init__(self, **kwargs):
        super().__init__(queryset=Channel.objects.only("id", "name", "fingerprint"), required=False, **kwargs)

    def label_from_instance(self, obj: Channel) -> str:
        return obj.name


class ChannelForm(forms.ModelForm):
    """A named channel: its URL is write-only (empty keeps it), kept masked after a failed save."""

    url = forms.CharField(
        label=_("Channel URL"),
        required=False,
        max_length=2000,
        widget=MaskedInput(),
        help_text=_(
            "slack://…, tgram://…, msteams://…, ntfy://…, json://… (a webhook), "
            "bitrix24s://portal/rest/USER_ID/CODE/?dialog=chatNN. Stored encrypted; shown as scheme and host only."
        ),
    )

    class Meta:
        model = Channel
        fields = ["name", "is_default", "language"]
        labels = {"name": _("Name"), "is_default": _("Apply to all portals"), "language": _("Language of its alerts")}
        help_texts = {
            "name": _("What pages and the audit log call it, e.g. “Support team Slack”."),
            "is_default": _("Every portal's alerts go here too, unless the portal replaces the default channels."),
            "language": _("What the alerts sent here are written in."),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["language"].required = False
        if self.instance.pk:
            self.fields["url"].help_text = (
                _("Set — leave empty to keep the stored URL. ") + self.fields["url"].help_text
            )
            self.fields["url"].widget.attrs["placeholder"] = "•••••• (set)"

    def clean_language(self) -> str:
        # Left out (scripts posting name and URL only): the channel keeps its language, a new one
        # gets the instance's.
        return self.cleaned_data.get("language") or self.instance.language

    def clean_url(self) -> str:
        url = self.cleaned_data["url"]
        if not url:
            if not self.instance.pk:
                raise forms.ValidationError(_("Give the channel's URL."))
            return ""
        try:
            url = validate_channel_url(url, allow_http=settings.BOTWATCH_ALLOW_HTTP)
        except ChannelURLError as exc:
            raise forms.ValidationError(f"{exc}.") from None
        twin = Channel.objects.filter(fingerprint=fingerprint(url)).exclude(pk=self.instance.pk).first()
        if twin is not None:
            raise forms.ValidationError(_("This URL is already the channel “%(name)s”.") % {"name": twin.name})
        return url

    def apply_url(self) -> str:
        """Puts a newly typed URL on the instance; returns the URL it replaces ("" when none)."""
        url = self.cleaned_data.get("url")
        if not url or url == self.instance.url:
            return ""
        before = self.instance.url
        self.instance.url, self.instance.fingerprint = url, fingerprint(url)
        return before


class PortalForm(PortalRulesForm, DashboardSecretsForm):
    notify_channels = ChannelChoiceField(
        label=_("This portal's channels"),
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Chosen from the channels of the Notifications page."),
    )
    alert_emails = forms.CharField(
        required=False,
        label=_("Alert emails"),
        help_text=_("Comma-separated; empty: the default recipients (BOTWATCH_ALERT_EMAILS)."),
    )
    customer_contacts = forms.CharField(
        required=False,
        label=_("Customer contacts"),
        help_text=_("Comma-separated email addresses of the customer's own people (not alerted; for reports)."),
    )
    tags = forms.CharField(
        required=False, label=_("Tags"), help_text=_("Comma-separated words to filter by, e.g. premium, de.")
    )
    accept_hint = _("tick “Send the stored credentials to {hosts}”")
    webhook_code = masked_secret_field(_("Webhook code"))
    oauth_client_secret = masked_secret_field(_("Client secret"))
    oauth_access_token = masked_secret_field(_("Access token"))
    oauth_refresh_token = masked_secret_field(_("Refresh token"))
    # The host the operator agreed to send the stored secrets to (check_new_host); a checkbox in the page.
    confirm_credentials_host = forms.CharField(required=False, widget=forms.HiddenInput)
    oauth_broker_secret = masked_secret_field(_("Broker secret"))
    answer_webhook_code = masked_secret_field(_("Probe user's webhook code"))

    class Meta:
        model = Portal
        fields = [*PORTAL_FIELDS, "pace_rate", "pace_burst", "paused", "notify_mode"]
        widgets = {"auth_type": forms.RadioSelect, "notify_mode": forms.RadioSelect}
        labels = {
            "notify_mode": _("Channels for all portals"),
            "url": _("Address"),
            "auth_type": _("Authentication"),
            "webhook_user_id": _("Webhook user id"),
            "oauth_client_id": _("Client id"),
            "oauth_broker_url": _("Token broker address"),
            "customer_name": _("Customer"),
            "customer_notes": _("Notes"),
            "answer_webhook_user_id": _("Probe user's webhook user id"),
            "name": _("Name"),
            "language": _("Language"),
            "monthly_report": _("Monthly report"),
            "interval": _("Interval"),
            "paused": _("Paused"),
            "pace_rate": _("Pace rate"),
            "pace_burst": _("Pace burst"),
        }
        help_texts = {
            "oauth_broker_url": _(
                "Optional: your app's backend hands out its access token here and BotWatch never "
                "refreshes (refresh tokens are single-use). Leave empty to give BotWatch a refresh token instead."
            ),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.initial["alert_emails"] = ", ".join(self.instance.alert_emails or [])
        self.initial["customer_contacts"] = ", ".join(self.instance.customer_contacts or [])
        self.initial["tags"] = ", ".join(self.instance.tags or [])
        self.fields["customer_notes"].widget.attrs["rows"] = 3
        # Not sent by older forms or scripts: keep what is stored (add, for a new portal).
        self.fields["notify_mode"].required = False
        self.fields["notify_mode"].choices = [
            (NotifyMode.ADD, _("Add this portal's channels to those applied to all portals")),
            (NotifyMode.REPLACE, _("Use only this portal's channels")),
        ]
        stored = {fingerprint(url) for url in self.instance.notify or []}
        channels = list(Channel.objects.only("id", "name", "fingerprint"))
        self.initial["notify_channels"] = [c.pk for c in channels if c.fingerprint in stored]
        for route in ROUTE_CLASSES:
            targets = (self.instance.routes or {}).get(route, [])
            keys = {fingerprint(t) for t in targets if is_channel_url(t)}
            self.fields[f"route_{route}_channels"] = ChannelChoiceField(
                label=_("%(status)s alerts go to") % {"status": route}, widget=forms.SelectMultiple(attrs={"size": 2})
            )
            self.fields[f"route_{route}_emails"] = forms.CharField(
                required=False, label=_("%(status)s: emails") % {"status": route}
            )
            self.initial[f"route_{route}_channels"] = [c.pk for c in channels if c.fingerprint in keys]
            self.initial[f"route_{route}_emails"] = ", ".join(t for t in targets if not is_channel_url(t))

    def clean_notify_mode(self) -> str:
        return self.cleaned_data.get("notify_mode") or self.instance.notify_mode or NotifyMode.ADD

    def clean(self):
        data = super().clean()
        for route in ROUTE_CLASSES:
            name = f"route_{route}_emails"
            emails = [e.strip() for e in (data.get(name) or "").replace(";", ",").split(",") if e.strip()]
            try:
                data[name] = validate_alert_emails(emails)
            except forms.ValidationError as exc:
                self.add_error(name, exc)
                data[name] = []
            chosen = data.get(f"route_{route}_channels") or []
            if len(chosen) + len(data.get(f"route_{route}_emails") or []) > MAX_CHANNELS:
                self.add_error(
                    f"route_{route}_channels", _("At most %(n)s channels and emails per route.") % {"n": MAX_CHANNELS}
                )
        return data

    def clean_notify_channels(self):
        chosen = self.cleaned_data["notify_channels"]
        if len(chosen) > MAX_CHANNELS:
            raise forms.ValidationError(_("At most %(n)s channels.") % {"n": MAX_CHANNELS})
        return chosen

    def route_rows(self) -> list[tuple[str, forms.BoundField, forms.BoundField]]:
        """The page's routes table: a status class, its channels, its emails."""
        return [(route, self[f"route_{route}_channels"], self[f"route_{route}_emails"]) for route in ROUTE_CLASSES]

    def apply_channels(self) -> list[str]:
        """Puts the channel choices on the instance as URLs; returns what changed (for the audit log, no values)."""
        data, changed = self.cleaned_data, []
        # URLs that have no Channel row (none should) are kept: the form could not show them.
        named = set(Channel.objects.values_list("fingerprint", flat=True))
        unnamed = [url for url in self.instance.notify or [] if fingerprint(url) not in named]
        notify = [c.url for c in Channel.objects.filter(pk__in=[c.pk for c in data["notify_channels"]])] + unnamed
        if notify != list(self.instance.notify or []):
            self.instance.notify = list(dict.fromkeys(notify))
            changed.append("notify")
        routes = {}
        for route in ROUTE_CLASSES:
            chosen = Channel.objects.filter(pk__in=[c.pk for c in data.get(f"route_{route}_channels") or []])
            stored = (self.instance.routes or {}).get(route, [])
            kept = [t for t in stored if is_channel_url(t) and fingerprint(t) not in named]
            targets = [*data.get(f"route_{route}_emails", []), *(c.url for c in chosen), *kept]
            if targets:
                routes[route] = targets
        if routes != (self.instance.routes or {}):
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


class PortalFileForm(forms.Form):
    file = forms.FileField(
        required=False, label=_("File"), help_text=_("YAML or JSON, as manage.py import_portals reads it.")
    )
    text = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 10}), label=_("…or paste it here"))
    send_credentials_to = forms.CharField(
        required=False,
        label=_("Send stored credentials to"),
        help_text=_(
            "Hosts, comma-separated, that portals whose url moves there may take their stored secrets to "
            "(as import_portals --send-credentials-to); without one, give the secrets again in the file."
        ),
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
                raise forms.ValidationError(_("The file is not UTF-8 text.")) from None
            data["fmt"] = "json" if upload.name.lower().endswith(".json") else None
        elif data.get("text", "").strip():
            data["content"] = data["text"]
            data["fmt"] = None
        else:
            raise forms.ValidationError(_("Choose a file or paste its content."))
        return data


ROLE_LABELS = {Role.VIEWER: _("Viewer"), Role.OPERATOR: _("Operator"), Role.ADMIN: _("Admin")}
ROLE_CHOICES = [(r.group_name, ROLE_LABELS[r]) for r in (Role.VIEWER, Role.OPERATOR, Role.ADMIN)] + [
    ("none", _("No access"))
]


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=ROLE_CHOICES, label=_("Role"))

    def role_value(self) -> Role:
        name = self.cleaned_data["role"]
        return Role.NONE if name == "none" else Role[name.upper()]


class UserCreateForm(UserCreationForm):
    email = forms.EmailField(required=False, label=_("Email"))
    role = forms.ChoiceField(choices=ROLE_CHOICES[:3], initial="viewer", label=_("Role"))

    class Meta(UserCreationForm.Meta):
        model = get_user_model()
        fields = ("username", "email")
