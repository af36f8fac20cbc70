"""The overview's bot table fits wide screens: the Latency column is not cut off at 1400 or 1920 px."""

import pytest

from checks.models import Bot
from dashboard.roles import Role
from tests.dashboard.test_browser_layout import seed_demo
from tests.fixtures.browser import log_in
from tests.fixtures.dashboard import PASSWORD, make_user

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("width", [1400, 1920])
def test_the_latency_column_is_in_view(page, live_server, db, width):
    data = seed_demo()
    # The widest a row gets: a long code, a long error, latency in the seconds, the Portal column.
    Bot.objects.filter(pk=data["bot"].pk).update(
        code="customer_support_assistant_bot", last_error="ERROR_METHOD_NOT_FOUND", last_duration_ms=12_345
    )
    make_user("ada", Role.ADMIN)
    page.set_viewport_size({"width": width, "height": 900})
    log_in(page, live_server, "ada", PASSWORD)
    page.goto(f"{live_server.url}/?sort=code")
    page.screenshot(path=f"/tmp/notify-overview-{width}.png", full_page=True)
    wrap = page.locator("#bots").locator("xpath=..")
    assert wrap.evaluate("el => el.scrollWidth - el.clientWidth") <= 1
    header = page.locator("#bots th", has_text="Latency").bounding_box()
    box = wrap.bounding_box()
    assert header["x"] + header["width"] <= box["x"] + box["width"] + 1
