"""The dashboard in headless Chromium against a live server, the simulator and the real engine."""

import re

import pytest
from playwright.sync_api import expect

from checks.engine.verify import verify_portal
from checks.models import Bot, Incident, Portal
from dashboard.roles import Role
from tests.dashboard.test_dashboard_access import API_DOCS, LINK_ONLY, PUBLIC, TOKEN_ONLY, all_urls
from tests.fixtures.browser import log_in
from tests.fixtures.dashboard import PASSWORD, add_history, make_portal, make_user

pytestmark = pytest.mark.browser


def watched_portal(simulator) -> Portal:
    """A portal on the simulator with two healthy bots, verified once."""
    simulator.add_portal("acme", webhook_user_id=1, webhook_code="k3y")
    portal = Portal.objects.create(name="acme", url=simulator.portal_url("acme"), webhook_user_id=1, webhook_code="k3y")
    for code in ("support_bot", "sales_bot"):
        simulator.add_bot("acme", code=code, bot_token=f"tok-{code}", counters={"countMessage": 10})
        Bot.objects.create(portal=portal, code=code, bot_token=f"tok-{code}")
    verify_portal(portal.pk, manual=True, inline_alerts=True)
    return portal


def test_anonymous_visitor_goes_to_login_and_logs_in(page, live_server, db):
    make_user("vera", Role.VIEWER)
    page.goto(f"{live_server.url}/")
    expect(page).to_have_url(re.compile(r"/login/\?next=/$"))
    page.fill("#id_username", "vera")
    page.fill("#id_password", "wrong-password")
    page.click("button[type=submit]")
    expect(page.locator(".msg-error")).to_contain_text("did not match")
    page.fill("#id_username", "vera")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("Overview")
    expect(page.locator(".empty")).to_contain_text("No bots are watched yet")
    page.click("text=Log out")
    expect(page).to_have_url(re.compile(r"/login/$"))


def test_every_url_sends_an_anonymous_visitor_to_log_in(page, live_server, db):
    crawled = 0
    for name, path in all_urls():
        if name in PUBLIC | LINK_ONLY or (path.startswith(TOKEN_ONLY) and path != API_DOCS):
            continue  # the API and /metrics answer 401, status links 404 without theirs (test_dashboard_access)
        page.goto(live_server.url + path)
        assert re.search(r"/login/\?next=", page.url), (name, path, page.url)
        expect(page.locator("#id_username")).to_be_visible()
        crawled += 1
    assert crawled >= 20


def test_overview_shows_a_removed_bot_turning_not_found_without_reload(page, live_server, simulator, settings):
    settings.DASHBOARD_POLL_SECONDS = 1
    portal = watched_portal(simulator)
    make_user("otto", Role.OPERATOR)
    log_in(page, live_server, "otto", PASSWORD)
    row = page.locator('tr[data-bot="acme/support_bot"]')
    expect(row).to_have_attribute("data-status", "ok")
    expect(row).to_contain_text("OK")
    page.evaluate("window.__sameDocument = true")

    simulator.remove_bot("acme", "support_bot")
    verify_portal(portal.pk, manual=True, inline_alerts=True)

    expect(row).to_have_attribute("data-status", "not_found", timeout=10_000)
    expect(row).to_contain_text("Bot not found")  # in words, not only red
    assert page.evaluate("window.__sameDocument") is True  # updated in place, no reload
    expect(page.locator("#open-incidents")).to_be_visible()
    expect(page.locator('tr[data-bot="acme/sales_bot"]')).to_have_attribute("data-status", "ok")
    # Times are relative, with the absolute time in the viewer's zone on hover.
    title = row.locator("time").first.get_attribute("title")
    assert "Europe/Berlin" in title

    # The operator acknowledges the incident from the alerts page.
    incident = Incident.objects.get(bot__code="support_bot", state="open")
    page.click("nav.mainnav >> text=Alerts")
    card = page.locator(f"#incident-{incident.pk}")
    expect(card).to_contain_text("Bot not found")
    card.locator("input[name=note]").fill("customer reinstalls the app")
    card.locator("button:has-text('Acknowledge')").click()
    expect(page.locator(".msg-success")).to_contain_text("acknowledged")
    page.click("text=Acknowledged (1)")
    expect(page.locator(f"#incident-{incident.pk}")).to_contain_text("customer reinstalls the app")
    incident.refresh_from_db()
    assert incident.acknowledged_by.username == "otto"


def start_webhook_portal(page, live_server, name: str, url: str, user_id: str, code: str) -> None:
    """As an admin, the "Add a portal" form with the portal's fields filled in, bots left to the test."""
    make_user("ada", Role.ADMIN)
    log_in(page, live_server, "ada", PASSWORD)
    page.goto(f"{live_server.url}/portals/")
    page.click("text=Add a portal")
    page.fill("#id_name", name)
    page.fill("#id_url", url)
    page.check("input[name=auth_type][value=webhook]")
    page.fill("#id_webhook_user_id", user_id)
    page.fill("#id_webhook_code", code)


def test_admin_adds_a_portal_with_test_connection(page, live_server, simulator, db):
    simulator.add_portal("globex", webhook_user_id=3, webhook_code="w-code")
    simulator.add_bot("globex", code="helpdesk", bot_token="h-token", counters={"countMessage": 42})
    start_webhook_portal(page, live_server, "globex", simulator.portal_url("globex"), "3", "w-code")
    page.fill("#id_bots-0-code", "helpdesk")
    page.fill("#id_bots-0-bot_token", "wrong-token")
    page.click("button:has-text('Test connection')")
    result = page.locator('[data-test-result="helpdesk"]')
    expect(result).to_have_attribute("data-status", "not_owner")  # wrong token: brief format
    assert not Portal.objects.filter(name="globex").exists()

    page.fill("#id_bots-0-bot_token", "h-token")
    page.click("button:has-text('Test connection')")
    expect(page.locator("#test-results")).to_contain_text("every bot answered ok")
    expect(result).to_contain_text("messages")
    page.click("button:has-text('Save')")
    expect(page.locator("h1")).to_contain_text("globex")
    expect(page.locator(".msg-success")).to_contain_text("saved")
    assert "w-code" not in page.content() and "h-token" not in page.content()
    portal = Portal.objects.get(name="globex")
    assert portal.webhook_code == "w-code" and portal.bots.get().bot_token == "h-token"


def test_admin_adds_as_many_bot_rows_as_needed(page, live_server, db):
    start_webhook_portal(page, live_server, "initech", "https://initech.example.com", "7", "i-code")
    rows = page.locator("#bot-rows .bot-row")
    expect(rows).to_have_count(1)
    page.click("#add-bot-row")
    page.click("#add-bot-row")
    expect(rows).to_have_count(3)
    for i, code in enumerate(["alpha", "beta", "gamma"]):
        page.fill(f"#id_bots-{i}-code", code)
        page.fill(f"#id_bots-{i}-bot_token", f"tok-{code}")
    page.click("button:has-text('Save')")
    expect(page.locator(".msg-success")).to_contain_text("saved")
    portal = Portal.objects.get(name="initech")
    assert sorted(portal.bots.values_list("code", flat=True)) == ["alpha", "beta", "gamma"]

    page.goto(f"{live_server.url}/portals/{portal.pk}/edit/")
    expect(rows).to_have_count(4)  # the three bots and one empty row
    page.click("#add-bot-row")
    page.fill("#id_bots-3-code", "delta")
    page.fill("#id_bots-3-bot_token", "tok-delta")
    page.fill("#id_bots-4-code", "epsilon")
    page.fill("#id_bots-4-bot_token", "tok-epsilon")
    page.click("button:has-text('Save')")
    expect(page.locator(".msg-success")).to_contain_text("saved")
    assert portal.bots.count() == 5 and portal.bots.get(code="epsilon").bot_token == "tok-epsilon"


def test_bot_page_chart_has_data_points(page, live_server, db):
    portal = make_portal("acme", n_bots=1)
    bot = portal.bots.get()
    add_history(bot, n=30)
    make_user("vera", Role.VIEWER)
    log_in(page, live_server, "vera", PASSWORD)
    page.goto(f"{live_server.url}/bots/{bot.pk}/")
    chart = page.locator("#chart-counters")
    expect(chart).to_have_attribute("data-rendered", "true")
    expect(chart.locator("canvas")).to_have_count(1)
    points = page.evaluate("JSON.parse(document.getElementById('chart-data').textContent).x.length")
    assert points == 30
    expect(page.locator("#chart-latency canvas")).to_have_count(1)
    expect(page.locator(".u-legend").first).to_contain_text("countMessage")


def test_viewer_cannot_reach_edit_pages(page, live_server, db):
    portal = make_portal("acme", n_bots=1)
    make_user("vera", Role.VIEWER)
    log_in(page, live_server, "vera", PASSWORD)
    page.goto(f"{live_server.url}/portals/{portal.pk}/")
    expect(page.locator("h1")).to_contain_text("acme")
    expect(page.locator("a:has-text('Edit')")).to_have_count(0)
    expect(page.locator("button:has-text('Check now')")).to_have_count(0)
    for path in (f"/portals/{portal.pk}/edit/", "/portals/new/", "/portal-file/", "/users/", "/audit/"):
        response = page.goto(live_server.url + path)
        assert response.status == 403, path


def test_check_now_shows_the_result_when_the_worker_is_done(page, live_server, simulator, db):
    portal = watched_portal(simulator)
    make_user("otto", Role.OPERATOR)
    log_in(page, live_server, "otto", PASSWORD)
    page.goto(f"{live_server.url}/portals/{portal.pk}/")
    page.click("button:has-text('Check now')")
    status = page.locator("#check-status")
    expect(status).to_contain_text("Checking acme now")
    # The Celery worker's job, done here: the task runs verify_portal with the claim check_now took.
    portal.refresh_from_db()
    assert portal.claim_token is not None
    verify_portal(portal.pk, portal.claim_token, manual=True, inline_alerts=True)
    expect(status).to_contain_text("Check finished", timeout=10_000)
    expect(status.locator('[data-check-result="support_bot"]')).to_contain_text("OK")


def test_overview_says_when_the_live_refresh_fails(page, live_server, db, settings):
    settings.DASHBOARD_POLL_SECONDS = 1
    make_user("vera", Role.VIEWER)
    log_in(page, live_server, "vera", PASSWORD)
    lost = page.locator("#poll-lost")
    expect(lost).to_be_hidden()
    page.route("**/?*", lambda route: route.abort())  # the server is gone for the polls
    page.route(f"{live_server.url}/", lambda route: route.abort())
    expect(lost).to_be_visible(timeout=5_000)
    page.unroute("**/?*")
    page.unroute(f"{live_server.url}/")
    expect(lost).to_be_hidden(timeout=5_000)
