"""Write-only secret inputs, shared by the admin and the dashboard: the stored value is never rendered.

A portal's form also keeps its stored secrets with their hosts (checks.portal_file.hostmove).
"""

from django import forms

from checks.models import AuthType, Portal
from checks.portal_file.hostmove import PORTAL_SECRETS, Move, find_move, secrets_left_behind


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
    keep_hint = "Stored (hidden). Leave empty to keep it; type a new value to replace it."
    unset_hint = "Not set."
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


class PortalSecretsForm(SecretFieldsForm):
    """A portal's form: an address moved to another host takes no stored secret along unasked."""

    secret_fields = Portal.SECRET_FIELDS
    accept_hint = "confirm the move to {hosts}"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The portal as stored: its secrets were given for its hosts.
        self.instance_before = Portal.objects.get(pk=self.instance.pk) if self.instance.pk else None
        self.pending_host = ""  # set by check_move: the hosts a confirmation is asked for

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
        kept = [self.fields[PORTAL_SECRETS[p]].label for p in places] + [f"bot token of {b.label}" for b in bots]
        if not kept:
            return True
        self.pending_host = ",".join(move.hosts)
        self.add_error(
            "url" if move.steps[0][0] == "url" else "oauth_broker_url",
            f"This {move.describe(self.instance_before.name)}, and would send the stored {', '.join(kept)} "
            f"there. Give them again, or {self.accept_hint.format(hosts=self.pending_host)}.",
        )
        return False
