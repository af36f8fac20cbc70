"""The Account page's forms: a user's email address and new API tokens."""

from django import forms
from django.contrib.auth import get_user_model
from django.utils.translation import gettext_lazy as _

from checks.models import ApiToken


class AccountEmailForm(forms.ModelForm):
    """The user's own email address: where the alerts they subscribe to are sent."""

    class Meta:
        model = get_user_model()
        fields = ["email"]
        labels = {"email": _("Email address")}
        help_texts = {"email": _("Alerts you subscribe to are sent here. Empty: no alert emails reach you.")}
        error_messages = {"email": {"invalid": _("This is not an email address (expected name@example.com).")}}

    def clean_email(self) -> str:
        return get_user_model().objects.normalize_email(self.cleaned_data["email"])


class ApiTokenForm(forms.Form):
    """A new API token: what will use it, and its role (write needs the admin role)."""

    name = forms.CharField(
        max_length=100,
        label=_("Token name"),
        help_text=_("What will use it, e.g. grafana or the app's install handler."),
    )
    role = forms.ChoiceField(
        choices=ApiToken.Role.choices, initial=ApiToken.Role.READ, widget=forms.RadioSelect, label=_("Role")
    )

    def __init__(self, *args, may_write: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.may_write = may_write
        if not may_write:
            self.fields["role"].help_text = _("Write tokens change portals and bots: an admin creates those.")

    def clean_role(self) -> str:
        role = self.cleaned_data["role"]
        if role == ApiToken.Role.WRITE and not self.may_write:
            raise forms.ValidationError(_("Only admins create write tokens."))
        return role
