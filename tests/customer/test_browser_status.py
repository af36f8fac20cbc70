"""The customer's status page and the monthly report in headless Chromium: no login, one portal only,
404 once revoked, a new incident shown once the cached page expires; in English and Russian.

Set BOTWATCH_SCREENSHOT_DIR to keep the screenshots (status and report, 1280 and 390 px, en and ru).
"""

import os
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.cache import cache
from django.utils import timezone
from playwright.sync_api import expect

from checks.customer import links
from checks.models import Bot, DailyStat, Incident, Portal
from checks.status import Status
from dashboard.roles import Role
from dashboard.views.customer import cache_key
from tests.customer.helpers import seconds_to_live
from tests.fixtures.browser import DESKTOP, PHONE, log_in
from tests.fixtures.dashboard import PASSWORD, add_history, make_portal, make_user, open_incident

pytestmark = pytest.mark.browser


def shoot(page, name: str) -> None:
    folder = os.environ.get("BOTWATCH_SCREENSHOT_DIR")
    if folder:
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


def fill_days(bot: Bot, bad_days: dict[int, int]) -> None:
    """89 folded days before today: 288 checks each, with `bad_days` {days ago: failures}."""
    today = timezone.localdate()
    DailyStat.objects.bulk_create(
        DailyStat(bot=bot, day=today - timedelta(days=n), checks=288, failures=bad_days.get(n, 0)) for n in range(3, 90)
    )


@pytest.fixture
def portals(transactional_db):
    cache.clear()
    acme = make_portal("acme", n_bots=3, customer_name="ACME GmbH")
    make_portal("globex-other-customer", n_bots=1, url="https://globex.example.com")
    bots = list(acme.bots.order_by("code"))
    for bot, bad in zip(bots, ({}, {10: 2, 40: 288}, {5: 100}), strict=True):
        add_history(bot, n=30)
        fill_days(bot, bad)
    Bot.objects.filter(pk__in=[b.pk for b in bots[:2]]).update(status=Status.OK)
    Bot.objects.filter(pk=bots[2].pk).update(status=Status.NOT_FOUND)
    incident = open_incident(bots[2])
    Incident.objects.create(
        kind="portal", portal=acme, status=Status.UNREACHABLE, last_status=Status.UNREACHABLE, state="resolved",
        started_at=timezone.now() - timedelta(days=6, hours=2), resolved_at=timezone.now() - timedelta(days=6),
    )  # fmt: skip
    yield acme, incident
    cache.clear()


@pytest.mark.parametrize("language", ["en", "ru"])
def test_the_page_without_login_shows_that_portal_alone(page, live_server, portals, language):
    acme, _ = portals
    Portal.objects.filter(pk=acme.pk).update(language=language)
    token = links.issue(acme)
    response = page.goto(f"{live_server.url}/status/{token}/")
    assert response.status == 200 and response.headers["x-robots-tag"].startswith("noindex")
    expect(page.locator("h1")).to_contain_text("ACME GmbH")
    expect(page.locator(".botline")).to_have_count(3)
    assert "globex" not in page.content()
    assert page.locator(".bars").first.locator(".bar").count() == 90
    assert page.locator(".bars .bar-down").first.get_attribute("title")
    shoot(page, f"status-{language}-1280")
    page.set_viewport_size(PHONE)
    shoot(page, f"status-{language}-390")
    page.set_viewport_size(DESKTOP)


def test_a_revoked_link_answers_404(page, live_server, portals):
    acme, _ = portals
    token = links.issue(acme)
    assert page.goto(f"{live_server.url}/status/{token}/").status == 200
    links.revoke(Portal.objects.get(pk=acme.pk))
    assert page.goto(f"{live_server.url}/status/{token}/").status == 404
    assert "ACME" not in page.content()


def test_an_incident_opened_on_a_bot_shows_once_the_cached_page_expires(page, live_server, portals, settings):
    acme, _ = portals
    assert settings.BOTWATCH_STATUS_CACHE_SECONDS <= 60  # so "within a minute" holds
    token = links.issue(acme)
    page.goto(f"{live_server.url}/status/{token}/")
    open_rows = page.locator("section", has=page.locator("h2", has_text="Open incidents")).locator("tbody tr")
    expect(open_rows).to_have_count(1)
    Bot.objects.filter(code="bot_0", portal=acme).update(status=Status.NOT_FOUND)
    open_incident(acme.bots.get(code="bot_0"))
    acme.refresh_from_db()
    key = cache_key(acme)
    assert 0 < seconds_to_live(key) <= 60
    cache.delete(key)  # the entry's time to live has run out
    page.reload()
    expect(open_rows).to_have_count(2)
    expect(open_rows.first).to_contain_text("bot_0")


@pytest.mark.parametrize("language", ["en", "ru"])
def test_the_monthly_report_page(page, live_server, portals, language):
    acme, _ = portals
    Portal.objects.filter(pk=acme.pk).update(language=language)
    make_user("vera", Role.VIEWER)
    log_in(page, live_server, "vera", PASSWORD)
    month = timezone.localdate().strftime("%Y-%m")
    assert page.goto(f"{live_server.url}/portals/{acme.pk}/report/{month}/").status == 200
    expect(page.locator("h1")).to_contain_text("ACME GmbH")
    expect(page.locator("table.uptimes tbody tr")).to_have_count(3)
    shoot(page, f"report-{language}-1280")
    page.set_viewport_size(PHONE)
    shoot(page, f"report-{language}-390")
