"""The portal form's bot rows: code or id, token (write-only), expectations (expect, backlog_minutes,
answer, silence)."""

import yaml
from django import forms
from django.forms import BaseInlineFormSet, inlineformset_factory
from django.utils.translation import gettext_lazy as _

from checks.models import AuthType, Bot, Portal
from checks.portal_file.expectations import (
    MAX_BACKLOG_MINUTES,
    validate_answer,
    validate_backlog_minutes,
    validate_expect,
    validate_silence,
)
from checks.portal_file.schema import validate_bot_code
from dashboard.forms import DashboardSecretsForm, masked_secret_field, yaml_box


class BotForm(DashboardSecretsForm):
    secret_fields = ("bot_token",)
    bot_token = masked_secret_field(_("Bot token"))
    expect_text = forms.CharField(
        required=False,
        label=_("Expect"),
        max_length=2000,
        help_text=_("Optional, as in the portal file: {eventMode: fetch, language: de, commands: [help]}"),
    )
    answer_text = forms.CharField(
        required=False,
        label=_("Answer probe"),
        max_length=1000,
        help_text=_(
            "Optional, as in the portal file: {text: /ping, within: 30, every: 900}. "
            "Empty: BotWatch never writes to this bot."
        ),
    )

    class Meta:
        model = Bot
        fields = ["code", "bot_id", "enabled", "backlog_minutes", "silence"]
        labels = {"bot_id": _("Bot id"), "backlog_minutes": _("Backlog minutes"), "silence": _("Silence (seconds)")}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["code"].required = False
        self.fields["backlog_minutes"].widget.attrs.update(placeholder="15", min=1, max=MAX_BACKLOG_MINUTES)
        if self.instance.expect:
            self.initial["expect_text"] = yaml.safe_dump(self.instance.expect, default_flow_style=True).strip()
        if self.instance.answer:
            self.initial["answer_text"] = yaml.safe_dump(self.instance.answer, default_flow_style=True).strip()

    def checked_number(self, name: str, label: str, validate) -> int | None:
        value = self.cleaned_data.get(name)
        message = validate(value)
        if message:
            raise forms.ValidationError(f"{label} {message}.")
        return value

    def checked_mapping(self, name: str, example: str, validate) -> tuple[str, dict]:
        """(the text as typed, the clean mapping) of a box that takes a portal file value in YAML."""
        text = self.cleaned_data.get(name, "").strip()
        clean, problems = validate(yaml_box(text, example) if text else None)
        if problems:
            raise forms.ValidationError([f"{where}: {message}" for where, message in problems])
        return text, clean

    def clean_backlog_minutes(self):
        return self.checked_number("backlog_minutes", _("Backlog minutes"), validate_backlog_minutes)

    def clean_silence(self):
        return self.checked_number("silence", _("Silence"), validate_silence)

    def clean_expect_text(self):
        text, self.instance.expect = self.checked_mapping("expect_text", "{eventMode: fetch}", validate_expect)
        return text

    def clean_answer_text(self):
        interval = self.instance.portal.interval if self.instance.portal_id else None
        text, clean = self.checked_mapping(
            "answer_text", "{text: /ping, within: 30}", lambda data: validate_answer(data, interval)
        )
        if clean != self.instance.answer:
            self.instance.answer_next_at = None  # a new or changed probe is due at the next check
        self.instance.answer = clean
        return text

    def clean_code(self) -> str:
        return validate_bot_code(self.cleaned_data["code"])

    def has_changed(self) -> bool:
        # An extra row left blank is no bot at all, whatever its "enabled" box says.
        if not self.instance.pk and not any(self.data.get(self.add_prefix(f)) for f in ("code", "bot_id", "bot_token")):
            return False
        return super().has_changed()

    def clean(self):
        data = super().clean()
        if not data.get("code") and not data.get("bot_id") and not data.get("DELETE"):
            raise forms.ValidationError(_("Give the bot's code or its id."))
        if data.get("bot_id"):
            # The id typed is the one to verify by (it accepts a re-registered bot's new id).
            self.instance.pinned_id = data["bot_id"]
        return data


class BaseBotFormSet(BaseInlineFormSet):
    def check_tokens(self, auth_type: str) -> bool:
        """Webhook calls carry each bot's token: it must be set, typed now or stored."""
        ok = True
        if auth_type != AuthType.WEBHOOK:
            return ok
        for form in self.live_forms():
            if not form.has_secret("bot_token"):
                form.add_error("bot_token", _("Required for webhook portals."))
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
