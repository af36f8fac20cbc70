"""Channels in headless Chromium: the portal page and form, the Alerts page with a failing channel,
"send a test" reaching a real receiver; nothing of a channel URL in any page, on desktop or phone.

With BOTWATCH_SCREENSHOT_DIR set, the pages are saved there as PNGs.
"""

import pytest
from playwright.sync_api import expect

from checks.alerts.channels import ensure_portal_channels
from checks.status import Status
from dashboard.roles import Role
from tests.alerts.helpers import T0, make_bot, make_portal, sweep
from tests.fixtures.browser import DESKTOP, PHONE, log_in, shoot
from tests.fixtures.dashboard import PASSWORD, make_user

pytestmark = pytest.mark.browser
SECRETS = ("s3cret-hook-path", "TIiajkdnlazkcOXrIdevi7FQ", "0wner-s3cret-topic", "d3fault-s3cret")


def assert_clean(page) -> None:
    html = page.content()
    for secret in SECRETS:
        assert secret not in html
    assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 1


def test_channels_on_the_portal_page_the_form_and_the_alerts_page(page, live_server, webhook_receiver, settings):
    settings.BOTWATCH_NOTIFY_URLS = [webhook_receiver.url("d3fault-s3cret")]
    portal = make_portal(
        notify=[webhook_receiver.url("s3cret-hook-path")],
        routes={"auth_failed": ["owner@example.com", "ntfys://0wner-s3cret-topic"]},
    )
    webhook_receiver.stop()
    sweep([make_bot(portal)], Status.NOT_FOUND, T0)  # both json:// channels fail: the receiver is down
    portal.notify = [*portal.notify, "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ"]  # added later
    portal.save()
    ensure_portal_channels(portal)  # as migrate does for portals stored before channels had names
    make_user("ada", Role.ADMIN)
    log_in(page, live_server, "ada", PASSWORD)

    page.goto(f"{live_server.url}/alerts/")
    card = page.locator("#failing-channels")
    expect(card).to_contain_text("Channels not getting alerts")
    expect(card.locator("tbody tr")).to_have_count(2)
    expect(card).to_contain_text("1 being retried")
    expect(card).to_contain_text("Connection error")
    assert_clean(page)
    shoot(page, "channels-alerts-failing")

    page.goto(f"{live_server.url}/portals/{portal.pk}/")
    channels = page.locator("#channels")
    expect(channels.locator("tbody tr")).to_have_count(4)
    expect(channels).to_contain_text("slack://…")
    expect(channels).to_contain_text("auth_failed alerts")
    expect(channels).to_contain_text("retrying")
    assert_clean(page)
    shoot(page, "channels-portal")

    webhook_receiver.start()
    row = channels.locator("tbody tr", has_text="(this portal)").first
    row.get_by_role("button", name="Send a test").click()
    # The result beside the button that was pressed.
    expect(row.locator(".test-result")).to_contain_text("Test message sent to json://127.0.0.1")
    assert webhook_receiver.wait_for(1)[0].body["title"] == "[BotWatch] Test message"

    page.goto(f"{live_server.url}/portals/{portal.pk}/edit/")
    form = page.locator("fieldset#channels")
    expect(form).to_contain_text("Routes")
    page.locator("#id_interval").fill("1")  # a failed save: the channels chosen stay as they were
    page.click("button[value=save]")
    expect(page.locator(".errorlist")).to_contain_text("at least 30")
    expect(form.locator("#id_route_auth_failed_channels option:checked")).to_have_count(1)
    assert_clean(page)
    page.locator("fieldset#channels").scroll_into_view_if_needed()
    shoot(page, "channels-portal-form")

    page.set_viewport_size(PHONE)
    for path, name in ((f"/portals/{portal.pk}/", "channels-portal-phone"), ("/alerts/", "channels-alerts-phone")):
        page.goto(live_server.url + path)
        assert_clean(page)
        shoot(page, name)
    page.set_viewport_size(DESKTOP)
