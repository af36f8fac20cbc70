"""Every page works in headless Chromium under the Content-Security-Policy (DEBUG=0): nothing is
blocked, htmx swaps fragments, the uPlot charts draw, the portal form's scripts run."""

import socket

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from playwright.sync_api import expect

from checks.models import Bot, Portal
from tests.fixtures.browser import log_in
from tests.fixtures.dashboard import PASSWORD, add_history, make_portal

pytestmark = pytest.mark.browser

# Recorded from the first script on every page, before anything the page runs.
WATCH = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", function (e) {
  var what = e.blockedURI || "inline";
  window.__csp.push(e.violatedDirective + " blocked " + what + " at " + e.sourceFile + ":" + e.lineNumber);
});
"""


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def watched(page):
    page.context.add_init_script(WATCH)
    console = []
    page.on("console", lambda m: console.append(m.text) if "Content Security Policy" in m.text else None)
    return page, console


def assert_nothing_blocked(page, console, where: str) -> None:
    violations = page.evaluate("window.__csp")
    assert violations == [] and console == [], f"{where}: {violations} {console}"


def test_every_page_works_under_the_policy(watched, live_server, db):
    page, console = watched
    portal = make_portal("acme", n_bots=2, url=f"http://127.0.0.1:{closed_port()}")
    bot = portal.bots.order_by("code").first()
    add_history(bot, n=40, fail_last=2)
    get_user_model().objects.create_superuser("root", "root@example.com", PASSWORD)

    page.goto(f"{live_server.url}/login/")
    assert_nothing_blocked(page, console, "login")
    log_in(page, live_server, "root", PASSWORD)

    pages = [
        reverse("dashboard:overview"),
        reverse("dashboard:alerts"),
        reverse("dashboard:portal-list"),
        reverse("dashboard:portal-detail", args=[portal.pk]),
        reverse("dashboard:bot-detail", args=[bot.pk]),
        reverse("dashboard:portal-create"),
        reverse("dashboard:portal-file"),
        reverse("dashboard:audit-log"),
        reverse("dashboard:user-list"),
        reverse("dashboard:account"),
        reverse("dashboard:account-two-factor"),
        reverse("password_change"),
        reverse("logout"),
        "/admin/",
        "/admin/checks/portal/",
        f"/admin/checks/portal/{portal.pk}/change/",
        "/admin/checks/bot/add/",
    ]
    for path in pages:
        page.goto(live_server.url + path)
        if not path.startswith("/admin/"):
            assert page.evaluate("typeof window.htmx") == "object", path
        assert_nothing_blocked(page, console, path)


def test_charts_htmx_and_form_scripts_run_under_the_policy(watched, live_server, settings, db):
    settings.DASHBOARD_POLL_SECONDS = 1
    page, console = watched
    portal = make_portal("acme", n_bots=1, url=f"http://127.0.0.1:{closed_port()}")
    bot = Bot.objects.get(portal=portal)
    add_history(bot, n=40, fail_last=2)
    get_user_model().objects.create_superuser("root", "root@example.com", PASSWORD)
    log_in(page, live_server, "root", PASSWORD)

    # The overview re-fetches its live part with htmx.
    stamp = page.locator("#live").get_attribute("data-updated")
    expect(page.locator("#live")).not_to_have_attribute("data-updated", stamp, timeout=10_000)

    # uPlot draws both charts; choosing a status filter submits the form (data-autosubmit).
    page.goto(live_server.url + reverse("dashboard:bot-detail", args=[bot.pk]))
    expect(page.locator("#chart-counters")).to_have_attribute("data-rendered", "true")
    expect(page.locator("#chart-latency canvas")).to_have_count(1)
    page.select_option("select[name=status]", "failed")
    page.wait_for_url("**status=failed**")

    # The portal form: the auth switch, another bot row, and "Test connection" through htmx.
    page.goto(live_server.url + reverse("dashboard:portal-edit", args=[portal.pk]))
    expect(page.locator("#auth-oauth")).to_be_hidden()
    page.check("input[name=auth_type][value=oauth]")
    expect(page.locator("#auth-oauth")).to_be_visible()
    page.check("input[name=auth_type][value=webhook]")
    rows = page.locator("#bot-rows .bot-row").count()
    page.click("#add-bot-row")
    expect(page.locator("#bot-rows .bot-row")).to_have_count(rows + 1)
    page.click("button[value=test]")
    expect(page.locator("#test-results")).to_contain_text("Test connection:", timeout=15_000)
    assert_nothing_blocked(page, console, "bot page and portal form")
    assert Portal.objects.get().name == "acme"  # testing saved nothing
