"""Small things a new user notices: a favicon on every page (an SVG served from static), and a
copy button beside a new API token (shown once)."""

import pytest
from playwright.sync_api import expect

from dashboard.roles import Role
from tests.fixtures.browser import log_in
from tests.fixtures.dashboard import PASSWORD, make_user

pytestmark = pytest.mark.browser


def test_every_page_has_a_favicon_served_from_static(page, live_server, db):
    page.goto(f"{live_server.url}/login/")
    href = page.locator("link[rel=icon]").get_attribute("href")
    assert href.endswith("dashboard/favicon.svg")
    answer = page.request.get(live_server.url + href)
    assert answer.status == 200 and answer.headers["content-type"].startswith("image/svg+xml")
    assert answer.text().startswith("<svg")


def test_a_new_api_token_has_a_copy_button(page, live_server, db):
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    make_user("ada", Role.ADMIN)
    log_in(page, live_server, "ada", PASSWORD)
    page.goto(f"{live_server.url}/account/")
    page.get_by_label("Token name").fill("grafana")
    page.get_by_role("button", name="Create token").click()
    token = page.locator("#new-token-value").input_value()
    page.locator("#new-token").get_by_role("button", name="Copy").click()
    expect(page.locator("#new-token .copied")).to_have_text("Copied.")
    assert page.evaluate("navigator.clipboard.readText()") == token
