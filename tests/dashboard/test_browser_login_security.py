"""Login security in headless Chromium: the lockout message on the login page, and (with
two-factor) the set-up page with its QR code. BOTWATCH_SCREENSHOT_DIR keeps screenshots."""

import os
from pathlib import Path

import pytest
from playwright.sync_api import expect

from dashboard.roles import Role
from tests.dashboard.test_browser_csp import WATCH
from tests.fixtures.browser import log_in
from tests.fixtures.dashboard import PASSWORD, make_user

pytestmark = pytest.mark.browser


def screenshot(page, tmp_path: Path, name: str) -> None:
    folder = Path(os.environ.get("BOTWATCH_SCREENSHOT_DIR", tmp_path))
    page.screenshot(path=str(folder / name), full_page=True)


def test_lockout_message_on_the_login_page(page, live_server, tmp_path, db):
    make_user("vera", Role.VIEWER)
    page.goto(f"{live_server.url}/login/")
    for _ in range(5):
        page.fill("#id_username", "vera")
        page.fill("#id_password", "wrong-password")
        page.click("button[type=submit]")
        expect(page.locator(".msg-error")).to_be_visible()
    page.fill("#id_username", "vera")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")

    message = page.locator("#locked-out")
    expect(message).to_contain_text("Too many failed logins for vera from your address")
    expect(message).to_contain_text("Try again in 15 minutes, or ask a BotWatch admin to unlock the account")
    expect(page.locator("#id_username")).to_have_value("vera")
    screenshot(page, tmp_path, "login-locked-out.png")
    page.goto(f"{live_server.url}/")
    expect(page).to_have_url(f"{live_server.url}/login/?next=/")


def test_two_factor_set_up_and_login_in_the_browser(page, live_server, tmp_path, db):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from tests.dashboard.test_two_factor import code

    page.context.add_init_script(WATCH)
    make_user("ada", Role.ADMIN)
    log_in(page, live_server, "ada", PASSWORD)
    page.click("text=Account")
    page.click("text=Set up two-factor")
    page.click("button:has-text('Set up two-factor')")

    qr = page.locator("#two-factor-setup img.qr")
    expect(qr).to_be_visible()
    assert page.evaluate("document.querySelector('img.qr').naturalWidth") > 100  # the SVG was drawn
    screenshot(page, tmp_path, "two-factor-setup.png")
    device = TOTPDevice.objects.get()
    page.fill("#id_otp_token", code(device))
    page.click("button:has-text('Turn on two-factor')")
    expect(page.locator("#backup-codes li")).to_have_count(10)
    assert page.evaluate("window.__csp") == []

    page.click("text=Log out")
    page.fill("#id_username", "ada")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("Two-factor code")
    page.goto(f"{live_server.url}/portals/")  # nothing else until the code is given
    expect(page.locator("h1")).to_have_text("Two-factor code")
    page.fill("#id_otp_token", code(device, steps_ahead=1))
    page.click("button:has-text('Verify')")
    expect(page.locator("h1")).to_have_text("Portals")  # where the browser was going
