"""GET /metrics: Prometheus text exposition (prometheus_client), with a read token.

Every value comes from the database, so any web process answers the same, however many run;
the rendered text is kept in the shared cache (Redis, or the file cache under var/) for
BOTWATCH_METRICS_CACHE_SECONDS, so frequent scrapes by several Prometheus servers cost one
rendering. Enabled bots of unpaused portals only: the ones BotWatch is watching.

prometheus_client renders the fleet-wide families. The per-bot families (six series per bot,
60,000 lines at 10,000 bots) are written here in the same text format, with prometheus_client's
value formatting: its generate_latest escaped and validated the same two labels of a bot six
times over and took half a second of a 1-second budget for it. Each bot's label set is built
once here instead. tests/dashboard/test_metrics.py reads the result with prometheus_client's parser.
"""

from collections import Counter
from datetime import datetime

from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, Sum
from django.http import HttpResponse
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, SummaryMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.utils import floatToGoString
from rest_framework.views import APIView

from checks.history.tally import last_recorded_at, verification_totals
from checks.models import AnswerProbe, Bot, Incident
from checks.status import BotState, Status

CACHE_KEY = "botwatch:metrics"
# Per-bot families: (Bot column or None, name, type, help). countChat and countUser can go down
# (a chat closed, a user gone), so they are gauges; the counters get Prometheus's _total suffix.
BOT_FAMILIES = (
    (None, "botwatch_bot_up", "gauge", "1 when the bot's last verification was ok, else 0"),
    (None, "botwatch_bot_status", "gauge", "The bot's current status (one series per bot, value 1)"),
    ("count_message", "botwatch_bot_messages_total", "counter", "Messages the bot has handled (countMessage)"),
    ("count_command", "botwatch_bot_commands_total", "counter", "Commands the bot has handled (countCommand)"),
    ("count_chat", "botwatch_bot_chats", "gauge", "Chats the bot is in (countChat)"),
    ("count_user", "botwatch_bot_users", "gauge", "Users the bot talks to (countUser)"),
    ("event_backlog_s", "botwatch_event_backlog_seconds", "gauge", "Age of the oldest pending event (fetch mode)"),
)
VALUE_COLUMNS = [column for column, *_ in BOT_FAMILIES if column]
FIELDS = ("portal__name", "code", "bot_id", "status", *VALUE_COLUMNS)


def _label(value: str) -> str:
    # The text format's escaping of a label value: backslash, newline, double quote.
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def bot_families() -> tuple[str, Counter]:
    """The per-bot families as exposition text, and the watched bots counted by status."""
    lines: dict[str, list[str]] = {name: [] for _, name, *_ in BOT_FAMILIES}
    up, state = lines["botwatch_bot_up"], lines["botwatch_bot_status"]
    by_column = [(name, lines[name]) for column, name, *_ in BOT_FAMILIES if column]
    by_status: Counter = Counter()
    rows = Bot.objects.filter(enabled=True, portal__paused=False).order_by("portal__name", "pk")
    for portal, code, bot_id, status, *values in rows.values_list(*FIELDS).iterator(chunk_size=5000):
        labels = f'bot="{_label(code or str(bot_id))}",portal="{_label(portal)}"'
        up.append(f"botwatch_bot_up{{{labels}}} {'1.0' if status == BotState.OK else '0.0'}\n")
        state.append(f'botwatch_bot_status{{{labels},status="{_label(status)}"}} 1.0\n')
        by_status[status] += 1
        for (name, out), value in zip(by_column, values, strict=True):
            if value is not None:
                out.append(f"{name}{{{labels}}} {floatToGoString(value)}\n")
    text = []
    for _, name, kind, help_text in BOT_FAMILIES:
        text += [f"# HELP {name} {help_text}\n", f"# TYPE {name} {kind}\n", *lines[name]]
    return "".join(text), by_status


class FleetCollector:
    """The fleet-wide families, read from the database when the scrape is rendered."""

    def __init__(self, now: datetime, by_status: Counter):
        self.now = now
        self.by_status = by_status

    def collect(self):
        bots = GaugeMetricFamily("botwatch_bots", "Watched bots by current status", labels=["status"])
        for status in BotState.values:
            bots.add_metric([status], self.by_status.get(status, 0))
        yield bots
        open_incidents = Incident.objects.filter(state=Incident.State.OPEN).count()
        yield GaugeMetricFamily("botwatch_open_incidents", "Incidents open now", value=open_incidents)
        totals = CounterMetricFamily("botwatch_verifications", "Verifications recorded, by status", labels=["status"])
        counted = verification_totals()
        for status in sorted({*Status.values, *counted}):
            totals.add_metric([status], counted.get(status, 0))
        yield totals
        last = last_recorded_at()
        age = GaugeMetricFamily("botwatch_last_verification_age_seconds", "Seconds since the newest verification")
        age.add_metric([], (self.now - last).total_seconds() if last else float("nan"))
        yield age
        yield answer_summary()


def answer_summary() -> SummaryMetricFamily:
    """The answered probes kept (30 days) per bot: their count and summed answer time."""
    family = SummaryMetricFamily(
        "botwatch_bot_answer_seconds", "Time to the bot's answer to BotWatch's probes", labels=["portal", "bot"]
    )
    rows = (
        AnswerProbe.objects.filter(outcome=AnswerProbe.Outcome.ANSWERED, bot__enabled=True, bot__portal__paused=False)
        .values_list("bot__portal__name", "bot__code", "bot__bot_id")
        .annotate(count=Count("pk"), total=Sum("answer_ms"))
        .order_by("bot__portal__name", "bot__code", "bot__bot_id")
    )
    for portal, code, bot_id, count, total in rows:
        family.add_metric([portal, code or str(bot_id)], count_value=count, sum_value=(total or 0) / 1000)
    return family


def render_metrics(now: datetime | None = None) -> bytes:
    per_bot, by_status = bot_families()
    registry = CollectorRegistry(auto_describe=False)
    registry.register(FleetCollector(now or timezone.now(), by_status))
    return per_bot.encode() + generate_latest(registry)


class Metrics(APIView):
    """Any token may scrape (GET needs no more than read)."""

    @extend_schema(exclude=True)
    def get(self, request):
        body = cache.get(CACHE_KEY)
        if body is None:
            body = render_metrics()
            if settings.BOTWATCH_METRICS_CACHE_SECONDS:
                cache.set(CACHE_KEY, body, settings.BOTWATCH_METRICS_CACHE_SECONDS)
        # The 0.0.4 text format: what every Prometheus and compatible scraper reads.
        return HttpResponse(body, content_type=CONTENT_TYPE_PLAIN_0_0_4)
