"""Where the answer probe shows: the API's answer history and bot detail, the bot page, the overview."""

from datetime import timedelta

import pytest
from django.utils import timezone

from checks.models import AnswerProbe, Bot
from dashboard.bot_forms import BotForm
from tests.fixtures.api import call
from tests.fixtures.dashboard import add_history, make_portal

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_cache")]
PROBE = {"text": "/ping", "within": 30, "every": 900}


@pytest.fixture
def admin_client(client, dashboard_admin):
    client.force_login(dashboard_admin)
    return client


@pytest.fixture
def probed() -> Bot:
    portal = make_portal("acme", n_bots=2)
    bot = portal.bots.get(code="bot_0")
    add_history(bot, n=4)
    now = timezone.now()
    Bot.objects.filter(pk=bot.pk).update(answer=PROBE, last_answer_ms=1000)
    for minutes, ms, outcome in ((50, 1000, "answered"), (35, 3000, "answered"), (20, None, "no_answer")):
        sent = now - timedelta(minutes=minutes)
        AnswerProbe.objects.create(bot=bot, dialog="456", text="/ping", sent_at=sent, deadline=sent,
                                   outcome=outcome, answer_ms=ms)  # fmt: skip
    return Bot.objects.get(pk=bot.pk)


def test_the_api_lists_a_bots_answers_newest_first(client, read_token, probed):
    response = call(client, "get", "/api/v1/portals/acme/bots/bot_0/answers", read_token)
    assert response.status_code == 200
    results = response.json()["results"]
    assert [(r["outcome"], r["answer_ms"]) for r in results] == [("no_answer", None), ("answered", 3000),
                                                                   ("answered", 1000)]  # fmt: skip
    detail = call(client, "get", "/api/v1/portals/acme/bots/bot_0", read_token).json()
    assert detail["answer"] == PROBE and detail["last_answer_ms"] == 1000


def test_the_bot_page_shows_the_answer_chart_and_last_probes(admin_client, probed):
    page = admin_client.get(f"/bots/{probed.pk}/").content.decode()
    assert 'id="chart-answers"' in page and 'id="answer-data"' in page
    assert "No answer" in page and "/ping" in page


def test_a_bot_without_answer_has_no_answer_section(admin_client, probed):
    other = probed.portal.bots.get(code="bot_1")
    assert 'id="answers"' not in admin_client.get(f"/bots/{other.pk}/").content.decode()


def test_the_overview_shows_the_answer_time_beside_the_status(admin_client, probed):
    page = admin_client.get("/").content.decode()
    assert "answers in 1.0 s" in page


def test_the_bot_form_takes_the_answer_probe_and_silence_by_the_portal_files_rules(probed):
    data = {"code": "bot_9", "enabled": "on", "bot_token": "t", "answer_text": "{text: /ping, every: 10}"}
    form = BotForm(data={**data, "silence": "5"}, instance=Bot(portal=probed.portal))
    assert not form.is_valid()
    assert "answer.every: must be a whole number of seconds from 60" in str(form.errors["answer_text"])
    assert "Silence must be a whole number of seconds from 60" in str(form.errors["silence"])
    form = BotForm(data={**data, "answer_text": "{text: /ping}", "silence": "600"}, instance=Bot(portal=probed.portal))
    assert form.is_valid(), form.errors
    assert form.save().answer == {"text": "/ping", "within": 30, "every": 900}
