"""Write-only secret inputs, shared by the admin and the dashboard: the stored value is never rendered.

A portal's form also keeps its stored secrets with their hosts (checks.portal_file.hostmove).
"""

from django import forms
from django.utils.translation import gettext_lazy as _

from checks.models import AuthType, Portal
from checks.portal_file.hostmove import PORTAL_SECRETS, Move, find_move, secrets_left_behind
from checks.portal_file.schema import (
    MAX_PACE_BURST,
    MAX_PACE_RATE,
    split_webhook_url,
    validate_address,
    validate_interval,
    validate_pace_burst,
    validate_pace_rate,
)

USER_ID_RULE = _("The user id is the number after /rest/ in the webhook address: a whole number from 1.")


def secret_field(label: str) -> forms.CharField:
    return forms.CharField(
        label=label,
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
    )


class SecretFieldsForm(forms.ModelForm):
    """A password input per encrypted field; an empty input keeps the stored secret."""

    secret_fields: tuple[str, ...] = ()
    keep_hint = _("Stored (hidden). Leave empty to keep it; type a new value to replace it.")
    unset_hint = _("Not set.")
    stored_placeholder = ""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in self.secret_fields:
            field = self.fields[name]
            if self.has_stored_secret(name):
                field.help_text = self.keep_hint
                if self.stored_placeholder:
                    field.widget.attrs["placeholder"] = self.stored_placeholder
            else:
                field.help_text = self.unset_hint

    def has_stored_secret(self, name: str) -> bool:
        return bool(getattr(self.instance, name, ""))

    def has_secret(self, name: str) -> bool:
        """Typed now or stored before: either way the saved object will carry one."""
        return bool(self.cleaned_data.get(name)) or self.has_stored_secret(name)

    def clean(self):
        cleaned = super().clean()
        for name in self.secret_fields:
            # Left empty: keep the stored secret (construct_instance skips absent keys).
            if not cleaned.get(name):
                cleaned.pop(name, None)
        return cleaned

    def apply_secrets(self) -> list[str]:
        """Copies newly typed secrets onto the instance; returns the names changed (for the audit log).

        Needed where the secrets are not among Meta.fields, so construct_instance leaves them alone.
        """
        changed = [name for name in self.secret_fields if self.cleaned_data.get(name)]
        for name in changed:
            setattr(self.instance, name, self.cleaned_data[name])
        return changed


# The portal's columns that the portal file describes and every portal form edits (the Django
# admin and the dashboard add their own beside them).
PORTAL_FIELDS = (
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
)


class PortalRulesForm(SecretFieldsForm):
    """A portal's form, the dashboard's and the Django admin's: the rules of checks.portal_file.schema
    on each field, the credentials each kind of auth needs, and an address moved to another host
    that takes no stored secret along unasked."""

    secret_fields = Portal.SECRET_FIELDS
    accept_hint = "confirm the move to {hosts}"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The portal as stored: its secrets were given for its hosts.
        self.instance_before = Portal.objects.get(pk=self.instance.pk) if self.instance.pk else None
        self.pending_host = ""  # set by check_move: the hosts a confirmation is asked for
        self.pasted_webhook: tuple[int, str] | None = None  # (user id, code) of a whole webhook address
        # Addresses reach the schema's rule as typed (a URLField would make "acme.bitrix24.com" http://).
        for name in ("url", "oauth_broker_url"):
            if name in self.fields:
                old = self.fields[name]
                self.fields[name] = forms.CharField(
                    label=old.label, required=old.required, help_text=old.help_text, max_length=500
                )
        if "webhook_user_id" in self.fields:
            old = self.fields["webhook_user_id"]
            self.fields["webhook_user_id"] = forms.IntegerField(
                label=old.label,
                required=False,
                min_value=1,
                error_messages={"min_value": USER_ID_RULE, "invalid": USER_ID_RULE},
            )
        if "language" in self.fields:
            self.fields["language"].required = False  # not sent by older forms or scripts
        for name, top in (("pace_rate", MAX_PACE_RATE), ("pace_burst", MAX_PACE_BURST)):
            if name in self.fields:
                limits = _("Bitrix24 cloud allows a portal 2 requests/s, 50 at once")
                self.fields[name].help_text = _("At most %(top)s: %(limits)s.") % {"top": f"{top:g}", "limits": limits}

    def clean_language(self) -> str:
        """Left out: what is stored (a new portal: the model's default)."""
        return self.cleaned_data["language"] or self.instance.language

    def clean_url(self) -> str:
        url = self.cleaned_data["url"]
        if (pasted := split_webhook_url(url)) is not None:
            url, *self.pasted_webhook = pasted
        return validate_address(url)

    def clean_oauth_broker_url(self) -> str:
        url = self.cleaned_data.get("oauth_broker_url", "")
        return validate_address(url) if url else url

    def clean_pace_rate(self):
        return validate_pace_rate(self.cleaned_data.get("pace_rate"))

    def clean_pace_burst(self):
        return validate_pace_burst(self.cleaned_data.get("pace_burst"))

    def _take_pasted_webhook(self, data: dict) -> None:
        """A whole webhook address pasted as the address fills the user id and code left empty."""
        user_id, code = self.pasted_webhook
        if data.get("webhook_user_id") in (None, user_id):
            data["webhook_user_id"] = user_id
        else:
            self.add_error("webhook_user_id", _("The pasted webhook address says user id %(id)s.") % {"id": user_id})
        if not data.get("webhook_code"):
            data["webhook_code"] = code

    def clean_interval(self):
        return validate_interval(self.cleaned_data.get("interval"))

    def clean(self):
        data = super().clean()
        if self.pasted_webhook and data.get("auth_type") == AuthType.WEBHOOK:
            self._take_pasted_webhook(data)
        if data.get("auth_type") == AuthType.WEBHOOK:
            if not data.get("webhook_user_id") and "webhook_user_id" not in self.errors:  # one error a field
                self.add_error("webhook_user_id", _("Required for webhook portals."))
            self._require_secret("webhook_code", _("Required for webhook portals."))
        elif data.get("auth_type") == AuthType.OAUTH:
            if not data.get("oauth_client_id"):
                self.add_error("oauth_client_id", _("Required for OAuth portals."))
            if data.get("oauth_broker_url"):
                self._require_secret("oauth_broker_secret", _("Required with a token broker."))
                self._brokered()
            else:
                for name in ("oauth_client_secret", "oauth_access_token", "oauth_refresh_token"):
                    self._require_secret(name, _("Required for OAuth portals without a token broker."))
                self.instance.oauth_broker_secret = ""
        return data

    def _brokered(self) -> None:
        """The app's backend owns the refresh chain: BotWatch keeps no copy of it (nor does the importer)."""
        for name in ("oauth_client_secret", "oauth_refresh_token"):
            if self.cleaned_data.get(name):
                self.add_error(name, _("Leave empty with a token broker: the broker hands out the access token."))
        if self.move() or self.instance.oauth_broker_url != self.cleaned_data.get("oauth_broker_url"):
            self.instance.oauth_access_token = ""  # the broker's token for this portal, at the first call
            self.instance.oauth_expires_at = None
        self.instance.oauth_client_secret = self.instance.oauth_refresh_token = ""
        self.instance.oauth_refresh_issued_at = None

    def _require_secret(self, name: str, message: str) -> None:
        if not self.has_secret(name):
            self.add_error(name, message)

    def move(self) -> Move | None:
        """How the typed addresses move the stored portal to other hosts, or None.

        Kept from the first call after the fields are cleaned: an error on an address takes it
        out of cleaned_data, and the audit still says where it was to go.
        """
        if not hasattr(self, "_move"):
            data = getattr(self, "cleaned_data", {})
            broker = data.get("oauth_broker_url") if data.get("auth_type") == AuthType.OAUTH else ""
            self._move = find_move(self.instance_before, data.get("url") or "", broker or "")
        return self._move

    def check_move(self, renewed: set[int], accepted: str) -> bool:
        """False, with an error naming each stored secret, when a move would take them along unasked.

        renewed: pks of the stored bots given a token now (or deleted); accepted: the hosts the
        admin confirmed, comma-separated.
        """
        move = self.move()
        if move is None or move.accepted_by(accepted.split(",")):
            return True
        data = self.cleaned_data
        given = {place for place, name in PORTAL_SECRETS.items() if data.get(name)}
        brokered = bool(data.get("oauth_broker_url"))
        places, bots = secrets_left_behind(self.instance_before, data.get("auth_type"), brokered, given, renewed)
        kept = [str(self.fields[PORTAL_SECRETS[p]].label) for p in places] + [f"bot token of {b.label}" for b in bots]
        if not kept:
            return True
        self.pending_host = ",".join(move.hosts)
        self.add_error(
            "url" if move.steps[0][0] == "url" else "oauth_broker_url",
            f"This {move.describe(self.instance_before.name)}, and would send the stored {', '.join(kept)} "
            f"there. Give them again, or {self.accept_hint.format(hosts=self.pending_host)}.",
        )
        return False
