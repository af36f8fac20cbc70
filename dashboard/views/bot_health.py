"""The bot page's health checks: the panel, the configuration history and its actions."""

from datetime import datetime, timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from checks.engine.bot_actions import ActionRefused, accept_new_id, expect_configuration
from checks.health.bot import CONFIG_FIELDS, DEFAULT_BACKLOG_MINUTES, describe_age, show
from checks.models import AnswerProbe, Bot, BotEvent, CredentialWarning
from dashboard.roles import Role, require_role
from dashboard.templatetags.botwatch import ms
from dashboard.views.common import audit, get_bot, redirect_back

CHECKS = [
    ("user_inactive", gettext_lazy("Bot user active")),
    ("event_backlog", gettext_lazy("Event backlog")),
    ("drift", gettext_lazy("Configuration as expected")),
    ("commands", gettext_lazy("Commands registered")),
    ("reregistered", gettext_lazy("Same bot id")),
    ("no_answer", gettext_lazy("Answers a message")),
    ("silent", gettext_lazy("Gets messages")),
]
# The answer probe's row stands for both of its problems.
ROW_OF = {"answer_refused": "no_answer"}
HISTORY = 20


def health_context(bot: Bot, last_probe: AnswerProbe | None = None) -> dict:
    """What the bot page shows of its health: one row per check, history, warnings.
    last_probe: the bot's latest answer probe (the page reads its last ones anyway)."""
    problems = bot.problems or []
    by_check: dict[str, list[str]] = {}
    for problem in problems:
        check = problem.get("check", "")
        by_check.setdefault(ROW_OF.get(check, check), []).append(problem.get("detail", ""))
    rows = [
        {"check": name, "label": label, **_row(bot, name, by_check.get(name), last_probe)} for name, label in CHECKS
    ]
    new_id = bot.remote_id if "reregistered" in by_check and bot.remote_id != bot.pinned_id else None
    return {
        "health_rows": rows,
        "new_id": new_id,
        "config_events": list(BotEvent.objects.filter(bot=bot).select_related("user")[:HISTORY]),
        "bot_warnings": list(CredentialWarning.objects.filter(bot=bot)),
        "expected": [(name, _shown(value)) for name, value in (bot.expect or {}).items()],
        "expect_fields": [name for name in CONFIG_FIELDS if name in (bot.baseline or {})],
    }


def _shown(value) -> str:
    return ", ".join(map(show, value)) if isinstance(value, list) else show(value)


def _row(bot: Bot, check: str, details: list[str] | None, last_probe: AnswerProbe | None) -> dict:
    if details:
        return {"state": "problem", "details": details}
    if check == "no_answer":
        return _answer_row(bot, last_probe)
    if check == "silent":
        return _silence_row(bot)
    if bot.status in ("pending", "") or not bot.baseline:
        return {"state": "unknown", "details": [_("not checked yet: needs an extended answer")]}
    expect, mode = bot.expect or {}, (bot.baseline or {}).get("eventMode")
    if check == "event_backlog":
        if mode != "fetch":
            return {"state": "na", "details": [_("not applicable (%(mode)s mode)") % {"mode": mode or "unknown"}]}
        limit = bot.backlog_minutes or DEFAULT_BACKLOG_MINUTES
        if bot.event_backlog_s is None:
            return {
                "state": "unknown",
                "details": [_("not looked at yet (threshold %(limit)s min)") % {"limit": limit}],
            }
        age = describe_age_seconds(bot.event_backlog_s) if bot.event_backlog_s else _("no pending event")
        return {"state": "ok", "details": [_("%(age)s (threshold %(limit)s min)") % {"age": age, "limit": limit}]}
    if check == "drift" and not [k for k in expect if k != "commands"]:
        return {"state": "na", "details": [_("nothing expected: changes are recorded below")]}
    if check == "commands":
        if not expect.get("commands"):
            return {"state": "na", "details": [_("no commands expected")]}
        seen = ", ".join(bot.commands_seen or []) or _("none")
        return {"state": "ok", "details": [_("registered: %(seen)s") % {"seen": seen}]}
    if check == "reregistered":
        return {
            "state": "ok",
            "details": [_("pinned to #%(id)s") % {"id": bot.pinned_id} if bot.pinned_id else _("not pinned yet")],
        }
    return {"state": "ok", "details": []}


def _answer_row(bot: Bot, probe: AnswerProbe | None) -> dict:
    if not bot.answer:
        return {"state": "na", "details": [_("no answer probe set")]}
    if probe is None:
        return {"state": "unknown", "details": [_("not probed yet")]}
    when = _("probe sent %(when)s") % {"when": ago(probe.sent_at)}
    if probe.outcome == AnswerProbe.Outcome.ANSWERED:
        # The pages' one way to show a duration (the overview's and the last answers' too).
        answered = _("answered in %(time)s (%(when)s)") % {"time": ms(probe.answer_ms), "when": when}
        return {"state": "ok", "details": [answered]}
    if probe.outcome == AnswerProbe.Outcome.PENDING:
        return {"state": "unknown", "details": [_("waiting for the answer (%(when)s)") % {"when": when}]}
    # Not sent: the portal failed, and its own status says so.
    return {"state": "unknown", "details": [f"{probe.get_outcome_display().lower()} ({when}) {probe.detail}".strip()]}


def _silence_row(bot: Bot) -> dict:
    if not bot.silence:
        return {"state": "na", "details": [_("no silence rule set")]}
    allowed = describe_age(timedelta(seconds=bot.silence))
    if bot.message_growth_at is None:
        return {
            "state": "unknown",
            "details": [_("no new message seen yet (allowed: %(allowed)s)") % {"allowed": allowed}],
        }
    return {
        "state": "ok",
        "details": [
            _("last new message %(when)s (allowed: %(allowed)s)")
            % {"when": ago(bot.message_growth_at), "allowed": allowed}
        ],
    }


def ago(at: datetime) -> str:
    age = timezone.now() - at
    return _("just now") if age < timedelta(minutes=1) else _("%(age)s ago") % {"age": describe_age(age)}


def describe_age_seconds(seconds: int) -> str:
    return _("oldest pending event %(age)s old") % {"age": describe_age(timedelta(seconds=seconds))}


@login_required
@require_POST
def bot_accept_id(request: HttpRequest, pk: int) -> HttpResponse:
    require_role(request, Role.OPERATOR)
    bot = get_bot(pk)
    try:
        new_id = int(request.POST.get("new_id", ""))
        before = bot.pinned_id
        accept_new_id(bot, new_id, request.user)
    except ValueError:
        messages.error(request, _("No new id given."))
    except ActionRefused as exc:
        messages.error(request, str(exc))
    else:
        audit(request, "accept bot id", bot, {"id": [before, new_id]})
        messages.success(
            request,
            _("%(label)s: verified by id %(new_id)s from now on; checking it now.")
            % {"label": bot.label, "new_id": new_id},
        )
    return redirect_back(request, reverse("dashboard:bot-detail", args=[bot.pk]))


@login_required
@require_POST
def bot_expect(request: HttpRequest, pk: int) -> HttpResponse:
    require_role(request, Role.OPERATOR)
    bot = get_bot(pk)
    event = None
    if request.POST.get("event"):
        event = get_object_or_404(BotEvent, pk=request.POST["event"], bot=bot)
    try:
        values = expect_configuration(bot, event, request.user)
    except ActionRefused as exc:
        messages.error(request, str(exc))
    else:
        audit(request, "expect configuration", bot, {"expect": values})
        shown = ", ".join(f"{name}: {value}" for name, value in values.items())
        messages.success(
            request,
            _('%(bot)s: now expected %(shown)s. A later change alerts as "settings changed".')
            % {"bot": bot.label, "shown": shown},
        )
    return redirect_back(request, reverse("dashboard:bot-detail", args=[bot.pk]))
