"""The Notifications page and the portal form in headless Chromium: a channel created (a failed
save keeps what was typed, masked), tested with the result beside its button, applied to all
portals and routed for one status; a pasted webhook address; the pages at 1280 and 390 px and
in dark mode, saved to /tmp/notify-*.png."""

import pytest
from playwright.sync_api import expect

from checks.alerts.channels import targets_for
from checks.models import Channel, ChannelDelivery, Portal
from checks.status import Status
from dashboard.roles import Role
from tests.alerts.helpers import T0, make_bot, make_portal, sweep
from tests.fixtures.browser import DESKTOP, PHONE, log_in
from tests.fixtures.dashboard import PASSWORD, make_user

pytestmark = pytest.mark.browser
SECRETS = ("team-s3cret", "x0xb-s3cret")


def shoot(page, name: str) -> None:
    """Every size and scheme of the page: 1280 px, 390 px, and 1280 px in dark mode."""
    for size, scheme, suffix in ((DESKTOP, "light", ""), (PHONE, "light", "-390"), (DESKTOP, "dark", "-dark")):
        page.set_viewport_size(size)
        page.emulate_media(color_scheme=scheme)
        assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 1
        page.screenshot(path=f"/tmp/notify-{name}{suffix}.png", full_page=True)
    page.set_viewport_size(DESKTOP)
    page.emulate_media(color_scheme="light")


def test_a_channel_is_created_tested_applied_to_all_portals_and_routed(page, live_server, webhook_receiver, settings):
    settings.BOTWATCH_NOTIFY_URLS = []
    acme, globex = make_portal("acme"), make_portal("globex")
    make_user("ada", Role.ADMIN)
    log_in(page, live_server, "ada", PASSWORD)
    page.get_by_role("link", name="Notifications").click()
    expect(page.locator("h1")).to_have_text("Notifications")

    add = page.locator("#channel-add")
    add.get_by_label("Name").fill("Support team hook")
    add.get_by_label("Channel URL").fill("slack://x0xb-s3cret")
    add.get_by_label("Apply to all portals").check()
    add.get_by_role("button", name="Add channel").click()
    expect(add.locator(".errorlist")).to_contain_text("slack://… is not a notification URL Apprise can use")
    # What was typed is still there, the URL masked: fix it and send again.
    expect(add.get_by_label("Name")).to_have_value("Support team hook")
    expect(add.get_by_label("Channel URL")).to_have_value("slack://x0xb-s3cret")
    expect(add.get_by_label("Channel URL")).to_have_attribute("type", "password")
    expect(add.get_by_label("Apply to all portals")).to_be_checked()
    shoot(page, "notifications-failed-save")

    url = webhook_receiver.url("team-s3cret")
    add.get_by_label("Channel URL").fill(url)
    add.get_by_role("button", name="Add channel").click()
    row = page.locator("#channel-list tbody tr", has_text="Support team hook")
    expect(row).to_contain_text("all portals")
    expect(row).to_contain_text("json://127.0.0.1")
    channel = Channel.objects.get()
    assert channel.url == url and channel.is_default
    assert targets_for(globex).channels == [url]  # every portal's alerts go there now

    row.get_by_role("button", name="Send a test").click()
    expect(row.locator(".test-result")).to_contain_text("Test message sent to json://127.0.0.1")
    assert webhook_receiver.wait_for(1)[0].body["title"] == "[BotWatch] Test message"
    assert "team-s3cret" not in page.content()
    shoot(page, "notifications")

    # acme sends "bot not found" to this channel only (a route), picked from the list.
    page.goto(f"{live_server.url}/portals/{acme.pk}/edit/")
    page.locator("details#routes summary").click()
    page.locator("#id_route_not_found_channels").select_option(label="Support team hook")
    page.locator("fieldset#channels").scroll_into_view_if_needed()
    shoot(page, "portal-form-channels")
    page.get_by_role("button", name="Save").click()
    page.wait_for_url(f"**/portals/{acme.pk}/")
    acme.refresh_from_db()
    assert acme.routes == {"not_found": [url]}

    sweep([make_bot(acme)], Status.NOT_FOUND, T0)
    posts = webhook_receiver.wait_for(2)
    assert posts[1].body["title"] == "[BotWatch] BOT_NOT_FOUND: support_bot on acme"
    delivery = ChannelDelivery.objects.get()
    assert (delivery.channel, delivery.state) == (channel, "sent")
    page.goto(f"{live_server.url}/notifications/")
    expect(page.locator("#channel-list tbody tr", has_text="Support team hook")).to_contain_text("acme")
    for secret in SECRETS:
        assert secret not in page.content()


def test_a_pasted_webhook_address_fills_three_fields(page, live_server):
    make_user("ada", Role.ADMIN)
    log_in(page, live_server, "ada", PASSWORD)
    page.goto(f"{live_server.url}/portals/new/")
    page.locator("#id_name").fill("acme")
    page.locator("#id_url").fill("acme.bitrix24.com/rest/7/abc123s3cret/")
    page.locator("#id_url").blur()
    expect(page.locator("#id_url")).to_have_value("acme.bitrix24.com")
    expect(page.locator("#id_webhook_user_id")).to_have_value("7")
    expect(page.locator("#id_webhook_code")).to_have_value("abc123s3cret")
    page.locator("#id_bots-0-code").fill("support_bot")
    page.locator("#id_bots-0-bot_token").fill("tok-1")
    shoot(page, "portal-form")
    page.get_by_role("button", name="Save").click()
    page.wait_for_url(lambda u: "/portals/new/" not in u)
    portal = Portal.objects.get()
    assert (portal.url, portal.webhook_user_id, portal.webhook_code) == ("https://acme.bitrix24.com", 7, "abc123s3cret")
