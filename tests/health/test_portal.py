"""The portal's verdict over HTTP: a switched-off webhook user, an app whose installation was not
finished, every bot failing alike on the portal's side. The engine asks the client, then the verdict."""
# ruff: noqa: F811 - the fixtures imported from tests.bitrix24.helpers are parameters here

import pytest

from checks.bitrix24.probe import AppInfo
from checks.engine.verify import call_client
from checks.status import Status
from tests.bitrix24.helpers import (  # noqa: F401 - fixtures
    fast,
    oauth_bot,
    oauth_portal,
    oauth_server,
    sim,
    two_bots,
    webhook_portal,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast", "oauth_server")]


def test_oauth_app_info_days_left_and_not_installed(sim):
    portal = oauth_portal(sim)
    bots = [oauth_bot(sim, portal, "assistant_bot")]
    sim.set_app_info("oauthco", "local.app1", days=5, installed=False)
    outcome, [result] = call_client(portal, bots)
    assert outcome.app_info == AppInfo(license="en_pro100", status="P", installed=False, payment_expired=False, days=5)
    # Not a failing portal: its bots are verified and keep their own status.
    assert (outcome.status, result.status, result.by_portal) == (Status.DEGRADED, Status.OK, False)
    assert [p.check for p in outcome.problems] == ["app_installed"]
    assert "installFinish" in outcome.error_description
    assert "profile" not in sim.stats("oauthco")["methods"]  # only webhook portals have a webhook user


def test_a_switched_off_webhook_user_fails_the_portal(sim):
    portal = webhook_portal(sim)
    bots = two_bots(sim, portal)
    sim.set_webhook_user_active("acme", False)
    outcome, results = call_client(portal, bots)
    assert outcome.status == Status.AUTH_FAILED and [p.check for p in outcome.problems] == ["webhook_user"]
    assert "webhook's user is switched off" in outcome.error_description
    assert all(r.status == Status.AUTH_FAILED and r.by_portal and r.counters is None for r in results)


def test_every_bot_failing_alike_on_the_portals_side_is_the_portals_failure(sim):
    portal = webhook_portal(sim)
    bots = two_bots(sim, portal)
    sim.inject_fault("acme", "insufficient_scope", method="imbot.v2.bot.get")
    outcome, results = call_client(portal, bots)
    assert (outcome.status, outcome.error_code) == (Status.AUTH_FAILED, "insufficient_scope")
    assert outcome.error_description.startswith("every bot answered insufficient_scope")
    assert all(r.by_portal for r in results)
