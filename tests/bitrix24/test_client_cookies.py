"""BotWatch keeps no cookies: what one portal sets is never sent to another (nor back to it)."""
# ruff: noqa: F811 - the fixtures imported from tests.bitrix24.helpers are parameters here

import pytest

from checks.bitrix24.client import verify_bots
from checks.status import Status
from tests.bitrix24.helpers import fast, sim, webhook_bot, webhook_portal  # noqa: F401 - fixtures

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast")]


def test_a_cookie_set_by_one_portal_goes_to_no_portal(sim):
    first = webhook_portal(sim, "acme")
    second = webhook_portal(sim, "globex")
    first_bot = webhook_bot(sim, first, "support_bot")
    second_bot = webhook_bot(sim, second, "support_bot")
    sim.inject_fault("acme", "set_cookie")  # every answer of acme sets one, for the whole simulator host
    # Same thread, so the same session and connection pool, as in a worker thread.
    assert [r.status for r in verify_bots(first, [first_bot])] == [Status.OK]
    assert [r.status for r in verify_bots(second, [second_bot])] == [Status.OK]
    assert [r.status for r in verify_bots(first, [first_bot])] == [Status.OK]
    assert sim.stats("globex")["requests_with_cookie"] == 0
    assert sim.stats("acme")["requests_with_cookie"] == 0
