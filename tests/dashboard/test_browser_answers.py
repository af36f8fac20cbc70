"""The answer probe's pages in headless Chromium: the bot page's answer chart and last probes, the
overview's answer times; screenshots for a person to look at (/tmp/probe-*.png)."""

import random
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from checks.engine import answers
from checks.engine.verify import verify_portal
from checks.models import AnswerProbe, Bot, Portal
from dashboard.roles import Role
from tests.fixtures.browser import log_in
from tests.fixtures.dashboard import PASSWORD, make_user

pytestmark = pytest.mark.browser
PROBE = {"text": "/ping", "within": 3, "every": 900}


def probed_portal(simulator) -> Portal:
    """greeter_bot answers in 1 s, dead_bot never; plain_bot is not probed. A day of earlier probes."""
    simulator.add_portal("stark", webhook_user_id=1, webhook_code="k3y")
    portal = Portal.objects.create(name="stark", url=simulator.portal_url("stark"), webhook_user_id=1,
                                   webhook_code="k3y", pace_rate=50, pace_burst=50)  # fmt: skip
    for code, backend in (("greeter_bot", {"delay_s": 1}), ("dead_bot", {"mode": "never"}), ("plain_bot", None)):
        created = simulator.add_bot("stark", code=code, bot_token=f"tok-{code}", counters={"countMessage": 40})
        if backend:
            simulator.set_answer("stark", code, **backend)
        Bot.objects.create(portal=portal, code=code, bot_token=f"tok-{code}", bot_id=created["id"],
                           answer=PROBE if backend else {})  # fmt: skip
    rng, now = random.Random(7), timezone.now()
    greeter = portal.bots.get(code="greeter_bot")
    for i in range(96):  # every 15 minutes for a day: mostly ~1 s, slower in the afternoon
        sent = now - timedelta(minutes=15 * (96 - i))
        ms = rng.choice([1000, 1000, 1000, 2000]) + (4000 if 12 <= sent.hour < 15 and rng.random() < 0.4 else 0)
        AnswerProbe.objects.create(bot=greeter, dialog=str(greeter.bot_id), text="/ping", sent_at=sent,
                                   deadline=sent + timedelta(seconds=30), outcome="answered", answer_ms=ms)  # fmt: skip
    for _ in range(3):  # the dead bot's probes: two checks in a row carry no_answer
        verify_portal(portal.pk, manual=True, inline_alerts=True)
        answers.probe_now(list(portal.bots.exclude(answer={}).values_list("pk", flat=True)))
    verify_portal(portal.pk, manual=True, inline_alerts=True)
    return portal


def test_bot_page_charts_answer_times_and_overview_shows_them(page, live_server, simulator):
    portal = probed_portal(simulator)
    greeter = portal.bots.get(code="greeter_bot")
    assert 500 <= Bot.objects.get(pk=greeter.pk).last_answer_ms <= 1500
    assert simulator.stats("stark")["methods"]["im.message.add"] == 6  # 3 x greeter and dead; none to plain
    make_user("vera", Role.VIEWER)
    log_in(page, live_server, "vera", PASSWORD)
    page.goto(f"{live_server.url}/bots/{greeter.pk}/")
    expect(page.locator("#chart-answers")).to_have_attribute("data-rendered", "true")
    expect(page.locator("#answers")).to_contain_text("Answered")
    page.locator("#answers").scroll_into_view_if_needed()
    page.screenshot(path="/tmp/probe-bot-answers-1280.png", full_page=True)
    # The health checks' table has the probe's and silence's rows, with the last outcome.
    answer_row = page.locator('#health tr[data-check="no_answer"]')
    expect(answer_row).to_have_attribute("data-state", "ok")
    expect(answer_row).to_contain_text("Answers a message")
    expect(answer_row).to_contain_text(f"answered in {Bot.objects.get(pk=greeter.pk).last_answer_ms / 1000:.1f} s")
    expect(page.locator('#health tr[data-check="silent"]')).to_contain_text("no silence rule set")
    page.locator("#health").screenshot(path="/tmp/probe-bot-health-1280.png")
    dead = portal.bots.get(code="dead_bot")
    page.goto(f"{live_server.url}/bots/{dead.pk}/")
    expect(page.locator("#answers")).to_contain_text("No answer in the last 7 days")
    expect(page.locator('#health tr[data-check="no_answer"]')).to_have_attribute("data-state", "problem")
    page.locator("#health").screenshot(path="/tmp/probe-bot-dead-health-1280.png")
    page.screenshot(path="/tmp/probe-bot-dead-1280.png", full_page=True)
    page.goto(f"{live_server.url}/")
    expect(page.locator("body")).to_contain_text("answers in 1.0 s")
    expect(page.locator("body")).to_contain_text("Degraded: no answer")  # the problem in plain words
    page.screenshot(path="/tmp/probe-overview-1280.png", full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path="/tmp/probe-overview-390.png", full_page=True)
    page.goto(f"{live_server.url}/bots/{greeter.pk}/")
    expect(page.locator("#chart-answers")).to_have_attribute("data-rendered", "true")
    page.screenshot(path="/tmp/probe-bot-answers-390.png", full_page=True)
