"""The client against the simulator running as its own process (`manage.py bitrix24_simulator`)."""

import pytest

from checks.bitrix24.client import verify_bots
from checks.models import AuthType, Bot, Portal
from checks.status import Status

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


@pytest.fixture
def simulator_scenario():
    return None  # an empty simulator; the test sets it up through the control API


def test_webhook_and_oauth_portals_in_another_process(simulator_process, settings):
    control = simulator_process
    settings.BITRIX24_OAUTH_URL = control.oauth_url
    settings.BITRIX24_RETRY_DELAY = 0.01
    control.add_portal(name="hooked", webhook_code="proc-hook-code-1", rate=100, burst=100)
    control.add_bot(portal="hooked", code="alpha", bot_token="alpha-token-1")
    control.add_bot(portal="hooked", code="beta", bot_token="beta-token-1")
    control.add_portal(name="apped", webhook_code=None, rate=100, burst=100)
    tokens = control.add_oauth_app(portal="apped", client_id="local.proc", client_secret="proc-secret-1")
    control.add_bot(portal="apped", code="gamma", app_client_id="local.proc")

    hooked = Portal.objects.create(
        name="hooked", url=control.portal_url("hooked"), webhook_user_id=1, webhook_code="proc-hook-code-1",
        pace_rate=100, pace_burst=100,
    )  # fmt: skip
    alpha = Bot.objects.create(portal=hooked, code="alpha", bot_token="alpha-token-1")
    beta = Bot.objects.create(portal=hooked, code="beta", bot_token="stale-token")
    apped = Portal.objects.create(
        name="apped", url=control.portal_url("apped"), auth_type=AuthType.OAUTH, oauth_client_id="local.proc",
        oauth_client_secret="proc-secret-1", oauth_access_token=tokens["access_token"],
        oauth_refresh_token=tokens["refresh_token"], pace_rate=100, pace_burst=100,
    )  # fmt: skip
    gamma = Bot.objects.create(portal=apped, code="gamma")
    control.expire_access_tokens(portal="apped")

    assert [r.status for r in verify_bots(hooked, [alpha, beta])] == [Status.OK, Status.NOT_OWNER]
    assert [r.status for r in verify_bots(apped, [gamma])] == [Status.OK]
    assert control.stats(portal="apped")["oauth_refreshes"] == 1
    assert control.stats(portal="hooked")["batch_requests"] == 1
