"""The bot page: its Bot fields and users, uptime, charts, verification history (and CSV), incidents."""

import csv
from datetime import UTC, datetime, timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from checks.alerts import actions
from checks.health import silence as usual_silence
from checks.history import answers as answer_history
from checks.history import read as history_read
from checks.models import DailyStat, Incident
from checks.status import Status
from dashboard.api.writes import save_bot
from dashboard.csv_export import download_name, safe_row
from dashboard.forms import AckForm, MuteForm
from dashboard.roles import Role, require_role
from dashboard.views.bot_health import health_context
from dashboard.views.common import audit, checks_banner, get_bot, redirect_back

# Bot fields shown from the last extended answer (imbot.v2.Bot.get, result.bot).
BOT_FIELDS = [
    "type",
    "language",
    "eventMode",
    "isHidden",
    "isSupportOpenline",
    "isReactionsEnabled",
    "backgroundId",
    "moduleId",
]
COUNTERS = [
    ("count_message", "countMessage"),
    ("count_chat", "countChat"),
    ("count_user", "countUser"),
    ("count_command", "countCommand"),
]
# Ranges up to RAW_DAYS chart every raw verification and, before them, one point an hour;
# longer ones one point a day (DailyStat).
RANGES = {"24h": 1, "7d": 7, "30d": 30, "90d": 90}
RAW_DAYS = 7
HISTORY_PAGE = 50
# Uptime windows in hours; each starts on the hour (checks.history.read.window_start).
UPTIME_WINDOWS = [24, 24 * 7, 24 * 30]
UPTIME_LABELS = [gettext_lazy("24 hours"), gettext_lazy("7 days"), gettext_lazy("30 days")]
CSV_FIELDS = [
    "checked_at",
    "status",
    "error_code",
    "error_description",
    "http_status",
    "duration_ms",
    "response_format",
    "count_message",
    "count_chat",
    "count_user",
    "count_command",
    "manual",
    "problems",
    "event_backlog_s",
]


def _chart_data(bot_id: int, range_key: str, now, raw: list | None = None) -> dict:
    """Columns for uPlot: x in Unix seconds, then each counter and latency (null where unknown)."""
    days = RANGES[range_key]
    if days <= RAW_DAYS:
        points = history_read.chart_points(bot_id, now - timedelta(days=days), raw=raw)
        source = "verifications"
    else:
        rows = (
            DailyStat.objects.filter(bot_id=bot_id, day__gt=(now - timedelta(days=days)).date())
            .order_by("day")
            .values_list(
                "day", "count_message", "count_chat", "count_user", "count_command", "total_duration_ms", "checks"
            )
        )
        points = [
            (
                int(datetime(d.year, d.month, d.day, 12, tzinfo=UTC).timestamp()),  # noon UTC stands for the day
                m,
                c,
                u,
                cmd,
                round(total / checks) if checks else None,
            )
            for d, m, c, u, cmd, total, checks in rows
        ]
        source = "daily aggregates"
    columns = [list(col) for col in zip(*points, strict=True)] if points else [[] for _ in range(6)]
    return {
        "x": columns[0],
        "countMessage": columns[1],
        "countChat": columns[2],
        "countUser": columns[3],
        "countCommand": columns[4],
        "latency": columns[5],
        "source": source,
        "range": range_key,
    }


def _usual_silence(bot, now, raw: list) -> dict:
    """A bot without a silence rule: its usual messages by hour of the week, and whether it is
    silent where it has always been busy (shown here only, never alerted). One query: the daily
    rows of the learned weeks (the packed checks are read already)."""
    if bot.silence is not None:
        return {}
    since = now - timedelta(weeks=usual_silence.WEEKS, days=1, hours=1)
    points = history_read.chart_points(bot.pk, since, raw=raw)
    readings = [(datetime.fromtimestamp(point[0], UTC), point[1]) for point in points]
    week, hint = usual_silence.silent_where_busy(readings, now)
    return {
        "usual_week": usual_silence.week_table(week) if any(h.seen for h in week) else None,
        "silent_hint": hint,
    }


def _history(request: HttpRequest, bot_id: int, raw: list | None = None):
    status = request.GET.get("status", "")
    if status != "failed" and status not in Status.values:
        status = ""
    return history_read.history(bot_id, status, raw=raw), status


@login_required
def bot_detail(request: HttpRequest, pk: int) -> HttpResponse:
    bot = get_bot(pk)
    now = timezone.now()
    range_key = request.GET.get("range", "24h")
    if range_key not in RANGES:
        range_key = "24h"
    raw = history_read.bot_checks(bot)  # read once for the table, the charts and uptime
    rows, status_filter = _history(request, bot.pk, raw)
    page = Paginator(rows, HISTORY_PAGE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    fields = bot.fields or {}
    last_probes = answer_history.last_probes(bot.pk)
    ctx = {
        "nav": "overview",
        "bot": bot,
        "portal": bot.portal,
        "now": now,
        "bot_fields": [(name, fields.get(name)) for name in BOT_FIELDS],
        "extra_fields": {k: v for k, v in fields.items() if k not in BOT_FIELDS and k not in dict(COUNTERS).values()},
        "users": bot.users or [],
        "uptime": list(zip(UPTIME_LABELS, history_read.uptimes(bot.pk, UPTIME_WINDOWS, now, raw), strict=True)),
        "chart": _chart_data(bot.pk, range_key, now, raw),
        "ranges": list(RANGES),
        "range": range_key,
        "page": page,
        "status_filter": status_filter,
        "statuses": Status.choices,
        "query": query.urlencode(),
        "incidents": Incident.objects.filter(bot=bot).prefetch_related("events__user").order_by("-opened_at")[:10],
        "mute_form": MuteForm(),
        "ack_form": AckForm(),
        "banner": checks_banner(now),
        "answer_chart": answer_history.answer_hours(bot.pk, now) if bot.answer else None,
        "last_probes": last_probes,
        **health_context(bot, last_probes[0] if last_probes else None),
        **_usual_silence(bot, now, raw),
    }
    return render(request, "dashboard/bot_detail.html", ctx)


class _Echo:
    def write(self, value: str) -> str:
        return value


@login_required
def bot_history_csv(request: HttpRequest, pk: int) -> StreamingHttpResponse:
    """The (filtered) verification history as CSV, streamed: months of rows never sit in memory.

    Every cell goes through safe_row: descriptions come from portals, codes from admins.
    """
    bot = get_bot(pk)
    rows, _page = _history(request, bot.pk)
    writer = csv.writer(_Echo())

    def lines():
        yield writer.writerow(safe_row(["portal", "bot", *CSV_FIELDS]))
        for row in rows.iterator(chunk_size=2000):
            values = [getattr(row, name) for name in CSV_FIELDS]
            values[0] = values[0].isoformat()
            values[-2] = "; ".join(f"{p.get('check')}: {p.get('detail')}" for p in values[-2] or [])
            yield writer.writerow(safe_row([bot.portal.name, bot.label, *values]))

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    name = download_name(bot.portal.name, bot.label, suffix="-history.csv")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@login_required
@require_POST
def bot_mute(request: HttpRequest, pk: int) -> HttpResponse:
    require_role(request, Role.OPERATOR)
    bot = get_bot(pk)
    form = MuteForm(request.POST)
    if form.is_valid():
        until = form.until()
        actions.mute_bot(bot, until, request.user)
        audit(request, "mute" if until else "unmute", bot, {"muted_until": until.isoformat() if until else None})
        messages.success(
            request,
            _("%(label)s: alerts muted.") % {"label": bot.label}
            if until
            else _("%(label)s: alerts unmuted.") % {"label": bot.label},
        )
    else:
        messages.error(request, _("Choose how long to mute for."))
    return redirect_back(request, reverse("dashboard:bot-detail", args=[bot.pk]))


@login_required
@require_POST
def bot_expect_silence(request: HttpRequest, pk: int) -> HttpResponse:
    """ "Expect this": the bot silent where it has always been busy gets a silence rule, through the
    one path that changes a bot (validated as the portal file is, audited)."""
    require_role(request, Role.OPERATOR)
    bot = get_bot(pk)
    back = reverse("dashboard:bot-detail", args=[bot.pk])
    now = timezone.now()
    hint = _usual_silence(bot, now, history_read.bot_checks(bot)).get("silent_hint")
    if hint is None:
        messages.info(
            request,
            _("%(label)s: nothing to expect (it has a silence rule, or is not silent now).") % {"label": bot.label},
        )
        return redirect_back(request, back)
    save_bot(request, bot.portal, {"silence": hint.silence}, bot=bot)
    hours = round(hint.silence / 3600)
    messages.success(
        request,
        _("%(bot)s: no new messages for %(hours)s h is now the problem “silent”.") % {"bot": bot.label, "hours": hours},
    )
    return redirect_back(request, back)
