"""What the API answers, and the documented shape of what it takes.

Portals and bots are written in the shape of the portal file (docs/portal-file.md) and validated
by the portal file's own validator (checks.portal_file.schema), not by these serializers: here they
describe that shape for the OpenAPI schema, with the schema's own rules and bounds, secrets marked
write-only, and render what goes out.
"""

from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from checks.models import Bot, Incident, Language, Verification, counters_of
from checks.portal_file.expectations import ANSWER_DEFAULTS, MAX_BACKLOG_MINUTES, MAX_SILENCE, MAX_WITHIN
from checks.portal_file.export import export_portal
from checks.portal_file.schema import BOT_CODE, BOT_CODE_MAX, BOT_CODE_RULE, MIN_INTERVAL
from checks.status import BotState, Status

SECRET_HELP = "Write-only: never in an answer. Left out on an update, the stored value stays."  # noqa: S105


def bot_key(bot: Bot) -> str:
    """How the API and `verify --json` name a bot: its code, else its id."""
    return bot.code or str(bot.bot_id)


def bot_path(portal_name: str, key: str) -> str:
    return reverse("api:bot-detail", kwargs={"name": portal_name, "bot": key})


class WebhookSerializer(serializers.Serializer):
    user_id = serializers.IntegerField(min_value=1)
    code = serializers.CharField(write_only=True, required=False, help_text=SECRET_HELP)


class OAuthSerializer(serializers.Serializer):
    client_id = serializers.CharField()
    client_secret = serializers.CharField(write_only=True, required=False, help_text=SECRET_HELP)
    access_token = serializers.CharField(write_only=True, required=False, help_text=SECRET_HELP)
    refresh_token = serializers.CharField(write_only=True, required=False, help_text=SECRET_HELP)
    broker_url = serializers.URLField(
        required=False,
        help_text="A token broker instead of client_secret and the tokens: BotWatch GETs it with "
        "`Authorization: Bearer broker_secret` for {access_token, expires_at} and never refreshes.",
    )
    broker_secret = serializers.CharField(write_only=True, required=False, help_text=SECRET_HELP)


class BotFileSerializer(serializers.Serializer):
    """One bot as in the portal file."""

    code = serializers.RegexField(
        BOT_CODE.pattern,
        max_length=BOT_CODE_MAX,
        required=False,
        help_text=f"The bot's code ({BOT_CODE_RULE}); give a code or an id",
    )
    id = serializers.IntegerField(required=False, min_value=1, help_text="The bot's id on the portal")
    bot_token = serializers.CharField(write_only=True, required=False, help_text="Webhook portals. " + SECRET_HELP)
    enabled = serializers.BooleanField(required=False, default=True)
    backlog_minutes = serializers.IntegerField(required=False, min_value=1, max_value=MAX_BACKLOG_MINUTES)
    expect = serializers.DictField(
        required=False, help_text="Expected configuration: eventMode, language, type, isHidden, ..., commands"
    )
    answer = serializers.DictField(
        required=False,
        help_text=f"Answer probe: text (required), within (seconds, default {ANSWER_DEFAULTS['within']}, at most "
        f"{MAX_WITHIN}), every (seconds, default {ANSWER_DEFAULTS['every']}, not below the interval), dialog "
        "(optional test chat, chatNNN)",
    )
    silence = serializers.IntegerField(
        required=False, min_value=60, max_value=MAX_SILENCE, help_text="Seconds without new messages allowed"
    )


class PortalSummarySerializer(serializers.Serializer):
    bots = serializers.IntegerField()
    by_status = serializers.DictField(child=serializers.IntegerField(), help_text="Bots per status")
    open_incidents = serializers.IntegerField()
    muted_until = serializers.DateTimeField(allow_null=True)
    redirected_to = serializers.CharField(help_text="New address the portal redirected to, if it was renamed")


class CustomerSerializer(serializers.Serializer):
    name = serializers.CharField(required=False, max_length=200)
    contacts = serializers.ListField(child=serializers.EmailField(), required=False)
    notes = serializers.CharField(required=False, max_length=2000)


class PortalSerializer(serializers.Serializer):
    """One portal in the shape of an entry of the portal file; answers add `summary` and leave secrets out."""

    name = serializers.SlugField()
    url = serializers.URLField()
    webhook = WebhookSerializer(required=False, help_text="Incoming-webhook auth; give webhook or oauth")
    oauth = OAuthSerializer(required=False)
    answer_webhook = WebhookSerializer(
        required=False, help_text="Optional: a dedicated probe user's incoming webhook (scope im) for answer probes"
    )
    alert_emails = serializers.ListField(child=serializers.EmailField(), required=False)
    customer = CustomerSerializer(required=False, help_text="Whose portal it is; left out keeps what is stored")
    tags = serializers.ListField(child=serializers.CharField(max_length=32), required=False, max_length=20)
    language = serializers.ChoiceField(
        choices=Language.choices, required=False, help_text="Of the customer's status page and report (default en)"
    )
    monthly_report = serializers.BooleanField(
        required=False, help_text="Email the monthly report to customer.contacts (default true)"
    )
    interval = serializers.IntegerField(required=False, min_value=MIN_INTERVAL, help_text="Seconds between checks")
    thresholds = serializers.DictField(child=serializers.IntegerField(min_value=1), required=False)
    paused = serializers.BooleanField(required=False, default=False)
    bots = BotFileSerializer(many=True, required=False)
    summary = PortalSummarySerializer(read_only=True)

    def to_representation(self, portal) -> dict:
        item = export_portal(portal)
        summaries = self.context.get("summaries", {})
        item["summary"] = summaries.get(portal.pk) or {"bots": 0, "by_status": {}, "open_incidents": 0}
        item["summary"].update(muted_until=portal.muted_until, redirected_to=portal.redirected_to)
        return item


class StatusLinkSerializer(serializers.Serializer):
    portal = serializers.CharField()
    url = serializers.CharField(allow_null=True, help_text="The status page's address; null once revoked")
    badge = serializers.CharField(allow_null=True, help_text="The portal's SVG badge")


class ProblemSerializer(serializers.Serializer):
    check = serializers.CharField(help_text="user_inactive, event_backlog, drift, commands or reregistered")
    detail = serializers.CharField()


class CountersSerializer(serializers.Serializer):
    countMessage = serializers.IntegerField()
    countCommand = serializers.IntegerField()
    countChat = serializers.IntegerField()
    countUser = serializers.IntegerField()


def problems_of(problems) -> list[dict]:
    return [{"check": p.get("check"), "detail": p.get("detail")} for p in problems or []]


class BotSerializer(serializers.Serializer):
    """An expected bot with its current state."""

    portal = serializers.CharField(source="portal.name")
    bot = serializers.SerializerMethodField(help_text="The bot's code, else its id: how URLs name it")
    code = serializers.CharField()
    id = serializers.SerializerMethodField(help_text="The bot's id on the portal (given, or first seen)")
    enabled = serializers.BooleanField()
    status = serializers.ChoiceField(choices=BotState.choices)
    since = serializers.DateTimeField(source="status_since", allow_null=True)
    last_checked_at = serializers.DateTimeField(allow_null=True)
    last_ok_at = serializers.DateTimeField(allow_null=True)
    error = serializers.SerializerMethodField(help_text="Bitrix24 error code of the last check, or null")
    counters = serializers.SerializerMethodField()
    problems = serializers.SerializerMethodField()
    event_backlog_seconds = serializers.IntegerField(source="event_backlog_s", allow_null=True)
    muted_until = serializers.DateTimeField(allow_null=True)
    url = serializers.SerializerMethodField()

    def get_bot(self, bot: Bot) -> str:
        return bot_key(bot)

    def get_id(self, bot: Bot) -> int | None:
        return bot.pinned_id or bot.bot_id or bot.remote_id

    def get_error(self, bot: Bot) -> str | None:
        return bot.last_error or None

    @extend_schema_field(CountersSerializer(allow_null=True))
    def get_counters(self, bot: Bot) -> dict | None:
        return counters_of(bot)

    @extend_schema_field(ProblemSerializer(many=True))
    def get_problems(self, bot: Bot) -> list[dict]:
        return problems_of(bot.problems)

    def get_url(self, bot: Bot) -> str:
        return bot_path(bot.portal.name, bot_key(bot))


class BotDetailSerializer(BotSerializer):
    expect = serializers.DictField(help_text="Expected configuration: imbot.v2.Bot.get fields and commands")
    backlog_minutes = serializers.IntegerField(allow_null=True)
    answer = serializers.DictField(help_text="The answer probe: text, within, every (and dialog); empty: none")
    silence = serializers.IntegerField(allow_null=True)
    last_answer_ms = serializers.IntegerField(allow_null=True, help_text="Time to the answer to the last probe")
    fields = serializers.DictField(help_text="The Bot object of the last extended answer")
    users = serializers.ListField(child=serializers.DictField())


class AnswerProbeSerializer(serializers.Serializer):
    sent_at = serializers.DateTimeField()
    dialog = serializers.CharField(help_text="The bot's user id (its personal dialog) or a test chat chatNNN")
    outcome = serializers.CharField(help_text="pending, answered, no_answer, refused or not_sent")
    answer_ms = serializers.IntegerField(allow_null=True, help_text="Time to the bot's first answer")
    error = serializers.CharField(source="error_code", help_text="Bitrix24's code when refused")
    detail = serializers.CharField()


class VerificationSerializer(serializers.Serializer):
    checked_at = serializers.DateTimeField()
    status = serializers.ChoiceField(choices=Status.choices)
    error = serializers.SerializerMethodField()
    error_description = serializers.CharField()
    http_status = serializers.IntegerField(allow_null=True)
    duration_ms = serializers.IntegerField()
    counters = serializers.SerializerMethodField()
    problems = serializers.SerializerMethodField()
    event_backlog_seconds = serializers.IntegerField(source="event_backlog_s", allow_null=True)
    manual = serializers.BooleanField()

    def get_error(self, row: Verification) -> str | None:
        return row.error_code or None

    @extend_schema_field(CountersSerializer(allow_null=True))
    def get_counters(self, row: Verification) -> dict | None:
        return counters_of(row)

    @extend_schema_field(ProblemSerializer(many=True))
    def get_problems(self, row: Verification) -> list[dict]:
        return problems_of(row.problems)


class IncidentSerializer(serializers.Serializer):
    """A bot's incident, a whole portal's (no bot) or a fleet wave's (no portal; `bot` is the code)."""

    id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=Incident.Kind.choices)
    portal = serializers.SerializerMethodField()
    bot = serializers.SerializerMethodField()
    wave = serializers.IntegerField(source="wave_id", allow_null=True, help_text="The wave a bot's incident is part of")
    state = serializers.ChoiceField(choices=Incident.State.choices)
    status = serializers.ChoiceField(choices=Status.choices, help_text="The worst status seen")
    last_status = serializers.ChoiceField(choices=Status.choices)
    error = serializers.SerializerMethodField()
    error_description = serializers.CharField()
    problems = serializers.SerializerMethodField()
    started_at = serializers.DateTimeField()
    opened_at = serializers.DateTimeField()
    resolved_at = serializers.DateTimeField(allow_null=True)
    acknowledged_at = serializers.DateTimeField(allow_null=True)
    acknowledged_by = serializers.SerializerMethodField()
    ack_note = serializers.CharField()
    bot_url = serializers.SerializerMethodField()

    def get_portal(self, incident: Incident) -> str | None:
        return incident.portal.name if incident.portal is not None else None

    def get_bot(self, incident: Incident) -> str | None:
        if incident.kind == Incident.Kind.WAVE:
            return incident.wave_code
        return bot_key(incident.bot) if incident.bot is not None else None

    def get_error(self, incident: Incident) -> str | None:
        return incident.error_code or None

    @extend_schema_field(ProblemSerializer(many=True))
    def get_problems(self, incident: Incident) -> list[dict]:
        return problems_of(incident.problems)

    def get_acknowledged_by(self, incident: Incident) -> str | None:
        user = incident.acknowledged_by
        return user.get_username() if user is not None else None

    def get_bot_url(self, incident: Incident) -> str | None:
        if incident.bot is None:
            return None
        return bot_path(incident.portal.name, bot_key(incident.bot))


class AcknowledgeSerializer(serializers.Serializer):
    note = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")


class CheckNowSerializer(serializers.Serializer):
    portal = serializers.CharField()
    detail = serializers.CharField()


class UninstalledSerializer(serializers.Serializer):
    portal = serializers.CharField()
    verified = serializers.IntegerField(help_text="Bots verified just now")
    bots = BotSerializer(many=True)
