"""GET /metrics: Prometheus text exposition (prometheus_client), with a read token.

Every value comes from the database, so any web process answers the same, however many run;
the rendered text is kept in the shared cache (Redis, or the file cache under var/) for
BOTWATCH_METRICS_CACHE_SECONDS, so frequent scrapes by several Prometheus servers cost one
rendering. Enabled bots of unpaused portals only: the ones BotWatch is watching.
"""

from collections import Counter
from datetime import datetime

from django.conf import settings
from django.core.cache import cache
from django.db.models import Max
from django.http import HttpResponse
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from rest_framework.views import APIView

from checks.models import Bot, Incident, Verification
from checks.status import BotState, Status
from checks.tally import verification_totals

CACHE_KEY = "botwatch:metrics"
# The 0.0.4 text format: what every Prometheus version and compatible scraper reads (our names
# need none of 1.0.0's escaping, so the text is the same either way).
BOT = ["portal", "bot"]
# Bot counters (from the last extended answer) -> (metric, kind, help). countChat and countUser
# can go down (a chat closed, a user gone), so they are gauges.
COUNTERS = (
    ("count_message", "botwatch_bot_messages", "counter", "Messages the bot has handled (countMessage)"),
    ("count_command", "botwatch_bot_commands", "counter", "Commands the bot has handled (countCommand)"),
    ("count_chat", "botwatch_bot_chats", "gauge", "Chats the bot is in (countChat)"),
    ("count_user", "botwatch_bot_users", "gauge", "Users the bot talks to (countUser)"),
)
FIELDS = ("portal__name", "code", "bot_id", "status", "event_backlog_s", *(c[0] for c in COUNTERS))


class FleetCollector:
    """The metric families of one scrape, read from the database when the scrape is rendered."""

    def __init__(self, now: datetime):
        self.now = now

    def collect(self):
        up = GaugeMetricFamily("botwatch_bot_up", "1 when the bot's last verification was ok, else 0", labels=BOT)
        state = GaugeMetricFamily(
            "botwatch_bot_status", "The bot's current status (one series per bot, value 1)", labels=[*BOT, "status"]
        )
        backlog = GaugeMetricFamily(
            "botwatch_event_backlog_seconds", "Age of the oldest pending event (fetch-mode bots)", labels=BOT
        )
        counters = {field: _family(name, kind, text) for field, name, kind, text in COUNTERS}
        by_status: Counter = Counter()
        rows = Bot.objects.filter(enabled=True, portal__paused=False).order_by("portal__name", "pk")
        for row in rows.values_list(*FIELDS).iterator(chunk_size=5000):
            portal, code, bot_id, status, backlog_s, *values = row
            labels = [portal, code or str(bot_id)]
            up.add_metric(labels, 1 if status == BotState.OK else 0)
            state.add_metric([*labels, status], 1)
            by_status[status] += 1
            if backlog_s is not None:
                backlog.add_metric(labels, backlog_s)
            for (field, *_), value in zip(COUNTERS, values, strict=True):
                if value is not None:
                    counters[field].add_metric(labels, value)
        yield from (up, state, *counters.values(), backlog)
        yield from self.fleet(by_status)

    def fleet(self, by_status: Counter):
        bots = GaugeMetricFamily("botwatch_bots", "Watched bots by current status", labels=["status"])
        for status in BotState.values:
            bots.add_metric([status], by_status.get(status, 0))
        yield bots
        open_incidents = Incident.objects.filter(state=Incident.State.OPEN).count()
        yield GaugeMetricFamily("botwatch_open_incidents", "Incidents open now", value=open_incidents)
        totals = CounterMetricFamily(
            "botwatch_verifications", "Verifications recorded, by status (up to two minutes ago)", labels=["status"]
        )
        counted = verification_totals(self.now)
        for status in sorted({*Status.values, *counted}):
            totals.add_metric([status], counted.get(status, 0))
        yield totals
        last = Verification.objects.aggregate(at=Max("checked_at"))["at"]  # index verification_time
        age = GaugeMetricFamily("botwatch_last_verification_age_seconds", "Seconds since the newest verification")
        age.add_metric([], (self.now - last).total_seconds() if last else float("nan"))
        yield age


def _family(name: str, kind: str, text: str):
    family = CounterMetricFamily if kind == "counter" else GaugeMetricFamily
    return family(name, text, labels=BOT)


def render_metrics(now: datetime | None = None) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(FleetCollector(now or timezone.now()))
    return generate_latest(registry)


class Metrics(APIView):
    """Any token may scrape (GET needs no more than read)."""

    @extend_schema(exclude=True)
    def get(self, request):
        body = cache.get(CACHE_KEY)
        if body is None:
            body = render_metrics()
            if settings.BOTWATCH_METRICS_CACHE_SECONDS:
                cache.set(CACHE_KEY, body, settings.BOTWATCH_METRICS_CACHE_SECONDS)
        return HttpResponse(body, content_type=CONTENT_TYPE_PLAIN_0_0_4)
