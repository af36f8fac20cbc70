"""Portal health in headless Chromium, from real runs against the simulator over HTTP: the
overview with a portal down (its row, its status, the "portals down" count, worst first), and a fleet
wave on the Alerts page with its portals; at 1280 px and on a phone.

Set BOTWATCH_SCREENSHOT_DIR to keep the screenshots (docs/screenshots/overview-portal-down.png and
alerts-wave.png come from this test).
"""

import os
from pathlib import Path

import pytest
from playwright.sync_api import expect

from checks.engine.verify import verify_portal
from checks.models import Bot, Heartbeat, Incident, Portal
from dashboard.roles import Role
from tests.fixtures.browser import DESKTOP, PHONE, log_in
from tests.fixtures.dashboard import PASSWORD, make_user

pytestmark = pytest.mark.browser

FLEET = ["globex", "hooli", "initech", "umbrella"]


def add_portal(simulator, name: str, codes: list[str], **sim_kwargs) -> Portal:
    simulator.add_portal(name, webhook_user_id=1, webhook_code="k3y", **sim_kwargs)
    portal = Portal.objects.create(
        name=name, url=simulator.portal_url(name), webhook_user_id=1, webhook_code="k3y", pace_rate=50, pace_burst=50
    )
    for code in codes:
        simulator.add_bot(name, code=code, bot_token=f"tok-{code}", counters={"countMessage": 40}, event_mode="webhook")
        Bot.objects.create(portal=portal, code=code, bot_token=f"tok-{code}")
    return portal


def run_all(portals: list[Portal]) -> None:
    for portal in portals:
        verify_portal(portal.pk, manual=True, inline_alerts=True)


@pytest.fixture
def outage_and_wave(simulator, settings, db):
    """acme (10 bots) unreachable for three runs; support_bot removed from four other portals at once."""
    settings.BITRIX24_RETRY_DELAY = 0.01
    acme = add_portal(simulator, "acme", [f"bot_{i:02}" for i in range(10)], own_port=True)
    others = [add_portal(simulator, name, ["support_bot", "sales_bot"]) for name in FLEET]
    run_all([acme, *others])
    simulator.set_outage("acme", "refused")
    simulator.remove_bot_code("support_bot", portals=FLEET)
    for _ in range(3):
        run_all([acme, *others])
    Heartbeat.objects.create(name="beat")  # checks are running: no banner over the screenshots
    Heartbeat.objects.create(name="worker:web-1")
    return acme


def shots_dir() -> Path | None:
    folder = os.environ.get("BOTWATCH_SCREENSHOT_DIR")
    return Path(folder) if folder else None


def fits(page, viewport) -> None:
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1, f"{page.url} is {overflow}px wider than a {viewport['width']}px screen"


def test_the_overview_with_a_portal_down_and_a_wave_on_the_alerts_page(page, live_server, outage_and_wave):
    make_user("otto", Role.OPERATOR)
    log_in(page, live_server, "otto", PASSWORD)
    shots = shots_dir()

    page.goto(f"{live_server.url}/?sort=status")
    group = page.locator('tr.group[data-portal="acme"]')
    expect(group).to_have_attribute("data-portal-status", "unreachable")
    expect(group).to_contain_text("Unreachable")
    expect(group).to_contain_text("its bots are not verified")
    expect(page.locator("[data-portals-down]")).to_contain_text("portal down (10 bots)")
    # Worst first by the one severity order (docs/statuses.md#severity): the portals of the wave,
    # whose bot is gone, then the portal that cannot be reached.
    names = page.locator("tr.group").evaluate_all("rows => rows.map(r => r.dataset.portal)")
    assert names[-1] == "acme" and sorted(names[:-1]) == FLEET
    expect(page.locator('section[aria-labelledby=open-incidents] tr[data-kind="portal"]')).to_contain_text(
        "whole portal"
    )
    expect(page.locator('section[aria-labelledby=open-incidents] tr[data-kind="wave"]')).to_contain_text("4 portals")
    if shots:
        page.screenshot(path=str(shots / "overview-portal-down.png"))

    wave = Incident.objects.get(kind="wave")
    page.goto(f"{live_server.url}/alerts/")
    card = page.locator(f"#incident-{wave.pk}")
    expect(card).to_contain_text("Fleet wave of support_bot")
    expect(card.locator("tr[data-wave-part]")).to_have_count(4)
    expect(card).to_contain_text("BOT_NOT_FOUND")
    portal_card = page.locator('article[data-kind="portal"]')
    expect(portal_card).to_contain_text("10 bots not verified")
    assert page.locator("article[data-incident]").count() == 2  # the wave's parts live inside it
    if shots:
        card.scroll_into_view_if_needed()
        page.screenshot(path=str(shots / "alerts-wave.png"), full_page=True)

    page.goto(f"{live_server.url}/portals/{outage_and_wave.pk}/")
    expect(page.locator("#portal-health")).to_contain_text("not verified one by one")
    expect(page.locator("[data-plan]")).to_have_text("en_pro100")
    if shots:
        page.screenshot(path=str(shots / "portal-health.png"))

    for viewport in (DESKTOP, PHONE):
        page.set_viewport_size(viewport)
        for path in ("/?sort=status", "/alerts/", f"/portals/{outage_and_wave.pk}/"):
            page.goto(live_server.url + path)
            fits(page, viewport)
