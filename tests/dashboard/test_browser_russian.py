"""The Russian dashboard in Chromium: a browser that asks for Russian reads the overview, a portal,
a bot, Alerts and Notifications in Russian (headings, navigation, buttons, dates); the header's
selector switches to English and the choice sticks across pages; an English browser reads English.

Set BOTWATCH_SCREENSHOT_DIR to keep the screenshots (1280 and 390 px wide, light and dark)."""

import re
from datetime import date

import pytest
from playwright.sync_api import expect

from checks.models import Bot, Channel, CredentialWarning, Portal
from dashboard.roles import Role
from tests.fixtures.browser import DESKTOP, PHONE, log_in, shoot
from tests.fixtures.dashboard import PASSWORD, make_user, portal_with_history  # noqa: F401

pytestmark = pytest.mark.browser
# "7 декабря 2026 г., 14:05": the day, a Russian month name in the genitive, the year.  # noqa: RUF003
MONTH_DAY = re.compile(
    r"\d{1,2} (января|февраля|марта|апреля|мая|июня|июля|августа|сентября|октября|ноября|декабря) \d{4}"
)


# The element that runs furthest past the window's right edge, or null when none does.
WIDEST = """() => {
  let worst = null, most = 0;
  for (const el of document.querySelectorAll("body *")) {
    const past = el.getBoundingClientRect().right - document.documentElement.clientWidth;
    if (past > most && !el.closest(".tablewrap, .scroll-x")) {
      most = past;
      worst = el.tagName + "." + el.className + " " + (el.textContent || "").trim().slice(0, 40);
    }
  }
  return worst && worst + " +" + Math.round(most) + "px";
}"""

# A badge that spills out of its overview tile (into the next one), or null.
SPILLED = """() => {
  for (const tile of document.querySelectorAll(".count")) {
    const edge = tile.getBoundingClientRect().right;
    for (const el of tile.querySelectorAll("*")) {
      const past = el.getBoundingClientRect().right - edge;
      if (past > 1) return (el.textContent || "").trim().slice(0, 40) + " +" + Math.round(past) + "px";
    }
  }
  return null;
}"""


def russian_page(browser, scheme: str = "light"):
    context = browser.new_context(viewport=DESKTOP, timezone_id="Europe/Moscow", locale="ru-RU", color_scheme=scheme)
    context.set_default_timeout(10_000)
    return context.new_page()


@pytest.fixture
def acme(portal_with_history):  # noqa: F811
    Portal.objects.filter(pk=portal_with_history.pk).update(
        auth_type="oauth", oauth_client_id="app.1", app_paid_until=date(2026, 12, 7), customer_name="Ромашка"
    )
    Bot.objects.filter(portal=portal_with_history).update(count_message=1234567)
    Channel.objects.create(name="Slack поддержки", url="json://hooks.example.com/alerts", is_default=True)
    # Its tile on the overview carries the longest Russian word of the counts.
    CredentialWarning.objects.create(
        portal=portal_with_history, kind=CredentialWarning.Kind.OLD_REFRESH_TOKEN, detail="refresh token 160 days old"
    )
    make_user("otto", Role.OPERATOR)
    return portal_with_history


def pages(live_server, portal: Portal) -> dict[str, str]:
    bot = portal.bots.order_by("code").last()
    return {
        "overview": "/",
        "portal": f"/portals/{portal.pk}/",
        "bot": f"/bots/{bot.pk}/",
        "alerts": "/alerts/",
        "notifications": "/notifications/",
    }


def test_a_russian_browser_reads_the_dashboard_in_russian(browser, live_server, acme):
    page = russian_page(browser)
    log_in(page, live_server, "otto", PASSWORD)
    url = {name: live_server.url + path for name, path in pages(live_server, acme).items()}

    page.goto(url["overview"])
    expect(page.locator("h1")).to_have_text("Обзор")
    nav = page.locator("nav.mainnav")
    for word in ("Обзор", "Оповещения", "Порталы", "Уведомления"):
        expect(nav).to_contain_text(word)
    expect(page.locator("#bots")).to_contain_text("1\xa0234\xa0567")
    expect(page.locator(".usermenu")).to_contain_text("Выйти")

    page.goto(url["portal"])
    expect(page.locator("h2", has_text="Состояние портала")).to_be_visible()
    expect(page.get_by_role("button", name="Проверить сейчас")).to_be_visible()
    expect(page.locator("[data-paid-until]")).to_contain_text("7 декабря 2026 г.")  # noqa: RUF001

    page.goto(url["bot"])
    expect(page.locator("h2", has_text="История проверок")).to_be_visible()
    expect(page.get_by_role("link", name="Экспорт в CSV")).to_be_visible()
    # app.js writes the times in the page's language: a Russian month name, not "Dec".
    expect(page.locator("time[data-format=absolute]").first).to_have_text(MONTH_DAY)

    page.goto(url["alerts"])
    expect(page.locator("h1")).to_have_text("Оповещения")
    expect(page.get_by_role("button", name="Взять в работу").first).to_be_visible()
    expect(page.locator("nav.tabs")).to_contain_text("Открытые")

    page.goto(url["notifications"])
    expect(page.locator("h1")).to_have_text("Уведомления")
    expect(page.locator("#channel-list")).to_contain_text("все порталы")
    page.context.close()


def test_switching_to_english_sticks_across_pages(browser, live_server, acme):
    page = russian_page(browser)
    log_in(page, live_server, "otto", PASSWORD)
    page.goto(f"{live_server.url}/alerts/")
    expect(page.locator("h1")).to_have_text("Оповещения")
    page.select_option("#language-form select", "en")  # data-autosubmit: no button to press
    page.wait_for_url(f"{live_server.url}/alerts/")
    expect(page.locator("h1")).to_have_text("Alerts")
    for path, heading in (("/", "Overview"), (f"/portals/{acme.pk}/", acme.name), ("/notifications/", "Notifications")):
        page.goto(live_server.url + path)
        expect(page.locator("h1")).to_contain_text(heading)
        expect(page.locator("html")).to_have_attribute("lang", "en")
    page.context.close()


def test_an_english_browser_reads_english(page, live_server, acme):
    log_in(page, live_server, "otto", PASSWORD)
    page.goto(f"{live_server.url}/portals/{acme.pk}/")
    expect(page.locator("h2", has_text="Portal health")).to_be_visible()
    expect(page.locator("[data-paid-until]")).to_contain_text("Dec. 7, 2026")
    expect(page.locator("#language-form select")).to_have_value("en")


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_russian_pages_fit_at_both_widths(browser, live_server, acme, scheme):
    """Russian words are longer: no page is wider than the window (nothing runs off the side)."""
    page = russian_page(browser, scheme)
    log_in(page, live_server, "otto", PASSWORD)
    for name, path in pages(live_server, acme).items():
        page.goto(live_server.url + path)
        for width, size in (("1280", DESKTOP), ("390", PHONE)):
            page.set_viewport_size(size)
            shoot(page, f"ru-{name}-{width}{'-dark' if scheme == 'dark' else ''}")
            overflow = page.evaluate(WIDEST)
            assert overflow is None, (name, width, overflow)
            assert page.evaluate(SPILLED) is None, (name, width)
        page.set_viewport_size(DESKTOP)
    page.context.close()
