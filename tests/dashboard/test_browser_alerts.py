"""The support lead's pages in Chromium: guidance beside a status on the bot and Alerts pages, filtering
and bulk acknowledging 50 incidents across 20 portals, finding a portal by its customer's name, and a
weekly maintenance window planned in the browser that keeps the alert email back.

Set BOTWATCH_SCREENSHOT_DIR to keep the screenshots (1280 and 390 px wide)."""

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from checks.models import Bot, Incident
from checks.status import Status
from dashboard.roles import Role
from tests.alerts.helpers import sweep
from tests.dashboard.test_dashboard_alerts_fleet import fleet
from tests.fixtures.browser import DESKTOP, PHONE, log_in, shoot
from tests.fixtures.dashboard import PASSWORD, make_user

pytestmark = pytest.mark.browser
GUIDANCE = "The application that registered the bot was uninstalled"


def both_widths(page, name: str) -> None:
    shoot(page, f"{name}-1280")
    page.set_viewport_size(PHONE)
    shoot(page, f"{name}-390")
    page.set_viewport_size(DESKTOP)


@pytest.fixture
def operator_page(page, live_server, db):
    make_user("otto", Role.OPERATOR)
    log_in(page, live_server, "otto", PASSWORD)
    return page


def test_the_bot_and_alerts_pages_say_what_to_do(operator_page, live_server):
    incidents = fleet(3, 1)  # rate_limited, not_found (BOT_NOT_FOUND), unreachable
    missing = next(i for i in incidents if i.last_status == Status.NOT_FOUND)
    Bot.objects.filter(pk=missing.bot_id).update(
        status=Status.NOT_FOUND, last_error="BOT_NOT_FOUND", consecutive_failures=1
    )
    page = operator_page
    page.goto(f"{live_server.url}/bots/{missing.bot_id}/")
    guidance = page.locator("[data-guidance]")
    expect(guidance).to_contain_text("Probable causes")
    expect(guidance).to_contain_text(GUIDANCE)
    expect(page.locator("[data-threshold]")).to_contain_text("alert threshold reached: 1 failed check in a row")
    both_widths(page, "bot")

    page.goto(f"{live_server.url}/alerts/")
    first = page.locator("article[data-incident]").first
    expect(first).to_have_attribute("data-status", "not_found")  # worst first
    first.locator("summary", has_text="What this means").click()
    expect(first.locator("[data-guidance]")).to_contain_text(GUIDANCE)
    expect(first.locator("[data-error]")).not_to_contain_text("HTTP 200")


def test_filter_then_acknowledge_fifty_incidents_across_twenty_portals(operator_page, live_server):
    incidents = fleet(20, 3)
    Incident.objects.filter(pk__in=[i.pk for i in incidents[50:]]).delete()
    page = operator_page
    page.goto(f"{live_server.url}/alerts/")
    expect(page.locator("article[data-incident]")).to_have_count(50)
    page.select_option("select[name=tag]", "premium")
    page.click("#alert-filters button[type=submit]")
    expect(page.locator("article[data-incident]")).to_have_count(24)  # the odd portals 1..15, 3 each
    page.select_option("select[name=tag]", "")
    page.fill("input[name=q]", "Customer 4")
    page.click("#alert-filters button[type=submit]")
    expect(page.locator("article[data-incident]")).to_have_count(6)
    page.click("text=Clear the filters")
    page.check("input[name=group]")
    page.click("#alert-filters button[type=submit]")
    expect(page.locator("h2.group-head")).to_have_count(17)  # 50 incidents: 16 full portals and part of one more
    both_widths(page, "alerts")

    page.check("[data-select-all]")
    page.select_option("select[name=action]", "acknowledge")
    page.fill("#bulk input[name=note]", "calling the customers")
    page.click("#bulk button[type=submit]")
    expect(page.locator(".msg-success")).to_contain_text("Acknowledge: 50 of 50 incidents")
    assert Incident.objects.filter(acknowledged_at__isnull=False, ack_note="calling the customers").count() == 50
    page.goto(f"{live_server.url}/alerts/?state=acknowledged")
    expect(page.locator("article[data-incident]")).to_have_count(50)


def test_the_overview_finds_a_portal_by_its_customer_name(operator_page, live_server):
    fleet(6, 1)
    page = operator_page
    page.goto(f"{live_server.url}/")
    page.fill("#f-q", "customer 2")
    page.press("#f-q", "Enter")
    expect(page.locator("tr.group")).to_have_count(2)
    expect(page.locator("tr.group").first).to_contain_text("Customer 2")
    expect(page.locator("tr.group").first).to_have_attribute("data-portal", "portal-04")
    both_widths(page, "overview")


def test_a_weekly_window_planned_in_the_browser_keeps_the_alert_back(operator_page, live_server, smtp_sink):
    [incident] = fleet(1, 1)
    incident.delete()
    bot = Bot.objects.get()
    page = operator_page
    page.goto(f"{live_server.url}/portals/{bot.portal_id}/")
    expect(page.locator("#customer")).to_contain_text("Customer 0")
    berlin = timezone.now().astimezone(ZoneInfo("Europe/Berlin"))
    start, end = berlin - timedelta(hours=1), berlin + timedelta(hours=1)
    page.check("input[name=repeat][value=weekly]")
    page.check(f"input[name=weekdays][value='{start.weekday()}']")
    page.fill("input[name=start_time]", start.strftime("%H:%M"))
    page.fill("input[name=end_time]", end.strftime("%H:%M"))
    page.fill("input[name=timezone]", "Europe/Berlin")
    page.click("text=Plan maintenance")
    expect(page.locator(".msg-success")).to_contain_text("every")
    expect(page.locator("[data-window]")).to_contain_text("Europe/Berlin")
    both_widths(page, "portal")

    sweep([bot], Status.NOT_FOUND, timezone.now())
    assert smtp_sink.messages == []
    page.goto(f"{live_server.url}/alerts/")
    quiet = page.locator("#quiet-incidents")
    expect(quiet.locator("article[data-incident]")).to_have_count(1)
    expect(quiet).to_contain_text("In maintenance: no alerts")
    expect(page.locator("#maintenance-now")).to_contain_text("portal-00")
