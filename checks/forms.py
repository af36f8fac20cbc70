"""Write-only secret inputs, shared by the admin and the dashboard: the stored value is never rendered."""

from django import forms


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
