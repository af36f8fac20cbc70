"""The bot page's usual week and silent hint in headless Chromium; screenshots for a person to look
at (/tmp/silence-*.png)."""

import pytest
from playwright.sync_api import expect

from dashboard.roles import Role
from tests.dashboard.test_usual_silence import NOW, packed_weeks
from tests.fixtures.browser import log_in
from tests.fixtures.dashboard import PASSWORD, make_portal, make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_bot_page_shows_the_usual_week_and_expect_this(page, live_server, django_clock):
    django_clock(NOW)
    bot = make_portal("acme", n_bots=1).bots.get()
    packed_weeks(bot)
    make_user("otto", Role.OPERATOR)
    log_in(page, live_server, "otto", PASSWORD)
    page.goto(f"{live_server.url}/bots/{bot.pk}/")
    section = page.locator("#usual-messages")
    expect(section).to_contain_text("Silent where it is always busy")
    section.scroll_into_view_if_needed()
    section.screenshot(path="/tmp/silence-bot-1280.png")
    page.set_viewport_size({"width": 390, "height": 844})
    section.screenshot(path="/tmp/silence-bot-390.png")
    section.get_by_role("button", name="Expect this").click()
    expect(page.locator("body")).to_contain_text("no new messages for 63 h")
