"""Login security in headless Chromium: the lockout message on the login page, and (with
two-factor) the set-up page with its QR code. BOTWATCH_SCREENSHOT_DIR keeps screenshots."""

import os
from pathlib import Path

import pytest
from playwright.sync_api import expect

from dashboard.roles import Role
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
