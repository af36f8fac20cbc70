"""The Account page's API tokens and the API docs page in headless Chromium.

Set BOTWATCH_SCREENSHOT_DIR to keep the screenshots (docs/screenshots/api-*.png come from here).
"""

import os
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from checks.models import ApiToken
from dashboard.roles import Role
from tests.fixtures.browser import log_in
from tests.fixtures.dashboard import PASSWORD, make_portal, make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def keep(page, name: str, selector: str | None = None) -> None:
    folder = os.environ.get("BOTWATCH_SCREENSHOT_DIR")
    if folder:
        target = page.locator(selector) if selector else page
        target.screenshot(path=str(Path(folder) / name))


def test_an_admin_creates_a_token_sees_it_once_and_revokes_another(page, live_server):
    admin = make_user("ada", Role.ADMIN)
    ApiToken.issue("grafana", "read", created_by=admin)
    ApiToken.issue("install-handler", "write")
    log_in(page, live_server, "ada", PASSWORD)
    page.goto(f"{live_server.url}/account/#api-tokens")
    page.fill("#id_name", "nightly-report")
    page.check("input[name=role][value=write]")
    page.click("#token-form button[type=submit]")
    shown = page.locator("#new-token input.token-value")
    token = shown.input_value()
    assert token.startswith("bw_") and shown.is_visible()
    assert page.locator("#token-list tbody tr").count() == 3
    keep(page, "api-tokens.png", "#api-tokens")
    page.click("tr[data-token=grafana] button")
    assert page.locator("#token-list tbody tr").count() == 2
    assert token not in page.content()
    assert page.get_by_text("Token grafana").first.is_visible()


def test_the_docs_page_lists_the_endpoints_with_nothing_from_another_server(page, live_server):
    make_user("vera", Role.VIEWER)
    make_portal("acme", n_bots=1)
    log_in(page, live_server, "vera", PASSWORD)
    hosts = set()
    page.on("request", lambda request: hosts.add(urlsplit(request.url).netloc))
    page.goto(f"{live_server.url}/api/v1/docs")
    page.wait_for_selector(".opblock-summary-path")
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    assert "/api/v1/portals" in paths and "/api/v1/bots" in paths
    assert hosts == {urlsplit(live_server.url).netloc}
    assert page.locator(".btn.authorize").is_visible()
    keep(page, "api-docs.png")
