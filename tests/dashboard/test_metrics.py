"""GET /metrics: Prometheus text read back with prometheus_client's own parser; values from the database."""

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.cache import cache
from django.utils import timezone
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.parser import text_string_to_metric_families

from checks.history.tally import verification_totals
from checks.models import AnswerProbe, Bot, CheckHour, Portal, Verification
from checks.status import Status
from dashboard.metrics import BOT_FAMILIES, CACHE_KEY, bot_families
from tests.fixtures.api import call
from tests.fixtures.dashboard import add_history, make_portal, open_incident
from tests.fixtures.history import record_check

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_cache")]
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def fleet():
    acme = make_portal("acme", n_bots=3)
    ok_bot, gone, fetcher = acme.bots.order_by("code")
    add_history(ok_bot, n=4)  # 5-minute steps: all settled
    add_history(gone, n=4, fail_last=1)
    open_incident(gone)
    Bot.objects.filter(pk=fetcher.pk).update(status=Status.DEGRADED, event_backlog_s=1200)
    paused = make_portal("paused", n_bots=1, paused=True)
    add_history(paused.bots.get(), n=2)
    Bot.objects.create(portal=acme, code="off", enabled=False, bot_token="t")
    return acme


def scrape(client, token) -> dict:
    response = call(client, "get", "/metrics", token)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def bot(portal: str, code: str, **more) -> tuple:
    return tuple(sorted({"portal": portal, "bot": code, **more}.items()))


def test_a_scrape_parses_and_carries_each_watched_bots_state(client, read_token, fleet):
    samples = scrape(client, read_token)
    assert samples[("botwatch_bot_up", bot("acme", "bot_0"))] == 1
    assert samples[("botwatch_bot_up", bot("acme", "bot_1"))] == 0
    assert samples[("botwatch_bot_status", bot("acme", "bot_1", status="not_found"))] == 1
    assert samples[("botwatch_bot_status", bot("acme", "bot_2", status="degraded"))] == 1
    assert samples[("botwatch_bot_messages_total", bot("acme", "bot_0"))] == 109
    assert samples[("botwatch_bot_commands_total", bot("acme", "bot_0"))] == 2
    assert samples[("botwatch_bot_chats", bot("acme", "bot_0"))] == 13
    assert samples[("botwatch_bot_users", bot("acme", "bot_0"))] == 5
    assert samples[("botwatch_event_backlog_seconds", bot("acme", "bot_2"))] == 1200
    assert ("botwatch_event_backlog_seconds", bot("acme", "bot_0")) not in samples
    # Paused portals and disabled bots are not watched.
    assert not [k for k in samples if dict(k[1]).get("portal") == "paused" or dict(k[1]).get("bot") == "off"]
    assert samples[("botwatch_bots", (("status", "ok"),))] == 1
    assert samples[("botwatch_open_incidents", ())] == 1
    # 4 + 4 + 2 verifications, every one older than the settling time; the paused portal's count too.
    assert samples[("botwatch_verifications_total", (("status", "ok"),))] == 9
    assert samples[("botwatch_verifications_total", (("status", "not_found"),))] == 1
    assert samples[("botwatch_verifications_total", (("status", "unreachable"),))] == 0
    assert 250 < samples[("botwatch_last_verification_age_seconds", ())] < 400


def test_metrics_need_a_token(client, fleet):
    response = client.get("/metrics")
    assert response.status_code == 401
    assert b"botwatch" not in response.content


def test_a_scrape_is_cached_briefly_then_read_again(client, read_token, fleet, settings):
    settings.BOTWATCH_METRICS_CACHE_SECONDS = 30
    first = call(client, "get", "/metrics", read_token).content
    Bot.objects.filter(code="bot_1").update(status=Status.OK)
    assert call(client, "get", "/metrics", read_token).content == first  # within the cache time
    cache.delete(CACHE_KEY)  # what the time running out does
    assert scrape(client, read_token)[("botwatch_bot_up", bot("acme", "bot_1"))] == 1


def test_without_a_cache_time_every_scrape_reads_the_database(client, read_token, fleet, settings):
    settings.BOTWATCH_METRICS_CACHE_SECONDS = 0
    scrape(client, read_token)
    Bot.objects.filter(code="bot_1").update(status=Status.OK)
    assert scrape(client, read_token)[("botwatch_bot_up", bot("acme", "bot_1"))] == 1


def test_the_cached_text_is_seen_by_another_process(client, read_token, fleet, settings):
    settings.BOTWATCH_METRICS_CACHE_SECONDS = 60
    body = call(client, "get", "/metrics", read_token).content
    code = f"from django.core.cache import cache; print(cache.get({CACHE_KEY!r}) == {body!r})"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"}
    run = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.stdout.strip().splitlines()[-1] == "True", run.stderr


def test_verification_totals_count_every_check_once_as_recorded_and_never_go_down(fleet):
    first = verification_totals()
    assert first == {"ok": 9, "not_found": 1}
    assert verification_totals() == first  # asked again: nothing counted twice
    bot_0 = Bot.objects.get(code="bot_0", portal__name="acme")
    CheckHour.objects.filter(bot=bot_0).delete()  # retention drops old history
    Verification.objects.filter(bot=bot_0).delete()
    assert verification_totals() == first
    record_check(bot_0, timezone.now() - timedelta(seconds=10))
    assert verification_totals() == {"ok": 10, "not_found": 1}  # counted the moment it is recorded
    Portal.objects.filter(name="paused").delete()  # its two checks stay counted
    assert verification_totals() == {"ok": 10, "not_found": 1}


class Families:
    """The per-bot families built with prometheus_client's own classes, for generate_latest."""

    def collect(self):
        families = {}
        for column, name, kind, text in BOT_FAMILIES:
            family = CounterMetricFamily if kind == "counter" else GaugeMetricFamily
            labels = ["portal", "bot", "status"] if name == "botwatch_bot_status" else ["portal", "bot"]
            families[name] = (column, family(name.removesuffix("_total"), text, labels=labels))
        for row in Bot.objects.filter(enabled=True, portal__paused=False).order_by("portal__name", "pk"):
            labels = [row.portal.name, row.code or str(row.bot_id)]
            families["botwatch_bot_up"][1].add_metric(labels, 1 if row.status == "ok" else 0)
            families["botwatch_bot_status"][1].add_metric([*labels, row.status], 1)
            for column, family in families.values():
                if column and getattr(row, column) is not None:
                    family.add_metric(labels, getattr(row, column))
        yield from (family for _, family in families.values())


def test_the_per_bot_text_is_what_prometheus_clients_own_renderer_writes(fleet):
    acme = fleet
    Bot.objects.create(portal=acme, code='odd "quote" \\ back\nslash', bot_token="t", count_message=7)
    Bot.objects.create(portal=acme, bot_id=456, bot_token="t", count_user=3)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(Families())
    assert bot_families()[0] == generate_latest(registry).decode()


def test_answer_times_are_a_summary_per_probed_bot(client, read_token, fleet):
    ok_bot = fleet.bots.get(code="bot_0")
    now = timezone.now()
    for ms, outcome in ((1000, "answered"), (3000, "answered"), (None, "no_answer")):
        AnswerProbe.objects.create(bot=ok_bot, dialog="1", text="/ping", deadline=now, outcome=outcome, answer_ms=ms)
    samples = scrape(client, read_token)
    assert samples[("botwatch_bot_answer_seconds_count", bot("acme", "bot_0"))] == 2
    assert samples[("botwatch_bot_answer_seconds_sum", bot("acme", "bot_0"))] == 4.0
    assert ("botwatch_bot_answer_seconds_count", bot("acme", "bot_1")) not in samples
