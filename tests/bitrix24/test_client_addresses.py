"""Portal addresses and redirect targets that cannot be used: classified, never raised, never leaked."""
# ruff: noqa: F811 - the fixtures imported from tests.bitrix24.helpers are parameters here

import logging
import sys

import pytest

from checks.bitrix24 import client as client_module
from checks.bitrix24.client import verify_bots
from checks.bitrix24.oauth import refresh_access_token
from checks.bitrix24.transport import Answer
from checks.engine import verify
from checks.models import Bot, Incident, Portal, Verification
from checks.net import client as net_client
from checks.status import Status
from dashboard.logformat import MaskingFormatter
from simulator.server import Simulator
from tests.bitrix24.helpers import (  # noqa: F401 - fixtures
    WEBHOOK_CODE,
    fast,
    oauth_portal,
    sim,
    webhook_bot,
    webhook_portal,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast")]


def legacy_portal(url: str) -> Portal:
    """A row written before the address checks existed (the ORM does not validate)."""
    portal = Portal.objects.create(name="legacy", url=url, webhook_user_id=1, webhook_code=WEBHOOK_CODE, pace_rate=100)
    portal.bots.create(code="support_bot", bot_token="bot-token-secret-x")
    portal.bots.create(code="sales_bot", bot_token="bot-token-secret-y")
    return portal


def test_a_port_out_of_range_is_misconfigured_without_a_request_or_a_leak(caplog):
    caplog.set_level(logging.DEBUG)
    portal = legacy_portal("http://127.0.0.1:99999/acme")
    results = verify_bots(portal, list(portal.bots.all()))
    assert [r.status for r in results] == [Status.MISCONFIGURED] * 2
    assert results[0].error_description.startswith("portal address http://127.0.0.1: port ")
    assert WEBHOOK_CODE not in caplog.text
    assert all(WEBHOOK_CODE not in r.error_description for r in results)


def test_a_run_over_a_portal_with_a_bad_address_records_every_bot():
    portal = legacy_portal("http://127.0.0.1:99999/acme")
    rows = verify.verify_portal(portal.pk, manual=True)
    assert len(rows) == 2 and {r.status for r in rows} == {Status.MISCONFIGURED}
    assert set(Bot.objects.values_list("status", flat=True)) == {Status.MISCONFIGURED}


def test_a_redirect_to_an_invalid_address_is_misconfigured_and_alerts_after_two_runs(
    sim, caplog, django_capture_on_commit_callbacks
):
    caplog.set_level(logging.DEBUG)
    portal = webhook_portal(sim)
    bot = webhook_bot(sim, portal, "support_bot")
    sim.inject_fault("acme", "redirect", location="http://[::1")
    for _ in range(2):
        with django_capture_on_commit_callbacks(execute=True):
            verify.verify_portal(portal.pk, manual=True, inline_alerts=True)
    row = Verification.objects.filter(bot=bot).latest("checked_at")
    assert row.status == Status.MISCONFIGURED and row.http_status == 302
    assert "invalid address" in row.error_description
    assert Incident.objects.filter(bot=bot, status=Status.MISCONFIGURED).exists()
    assert sim.stats("acme")["requests"] == 2  # nothing followed
    assert WEBHOOK_CODE not in caplog.text


def test_log_lines_and_tracebacks_are_masked():
    formatter = MaskingFormatter("%(message)s")
    try:
        raise ValueError(f"Failed to parse: http://127.0.0.1:99999/rest/1/{WEBHOOK_CODE}/imbot.v2.Bot.get")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "calling %s", ("/rest/7/abc123/x",), True)
        record.exc_info = sys.exc_info()
    text = formatter.format(record)
    assert "/rest/7/***/x" in text and "/rest/1/***/imbot" in text
    assert WEBHOOK_CODE not in text and "abc123" not in text


@pytest.fixture
def elsewhere():
    """A second Bitrix24 on another address (127.0.0.2), hosting a portal of the same name."""
    other = Simulator(seed=7)
    other.start(host="127.0.0.2", port=0)
    other.add_portal("acme", webhook_user_id=1, webhook_code=WEBHOOK_CODE)
    other.add_bot("acme", code="support_bot", bot_token="tok-support_bot-secret")
    yield other
    other.stop()


def test_a_redirect_to_another_host_is_refused_and_recorded_for_the_operator(sim, elsewhere):
    portal = webhook_portal(sim)
    bot = webhook_bot(sim, portal, "support_bot")
    location = f"{elsewhere.portal_url('acme')}/rest/1/{WEBHOOK_CODE}/imbot.v2.Bot.get"
    sim.inject_fault("acme", "redirect", location=location)
    [result] = verify_bots(portal, [bot])
    assert result.status == Status.MISCONFIGURED and result.http_status == 302
    assert result.redirect_url == elsewhere.portal_url("acme")
    assert "credentials not sent" in result.error_description
    assert elsewhere.stats("acme")["requests"] == 0  # neither the bot token nor the webhook code went there
    portal.refresh_from_db()
    assert (portal.redirected_to, portal.redirect_refused) == (elsewhere.portal_url("acme"), True)
    assert portal.url == sim.portal_url("acme")


def test_a_redirect_from_https_down_to_http_is_refused_even_with_allow_http(monkeypatch, settings):
    settings.BOTWATCH_ALLOW_HTTP = True
    portal = legacy_portal("https://acme.bitrix24.com")
    calls = []

    def exchange(session, method, url, **kwargs):
        calls.append(url)
        return Answer(http_status=302, location="http://acme.bitrix24.com/rest/1/x/imbot.v2.Bot.get")

    monkeypatch.setattr(client_module, "exchange", exchange)
    [result] = verify_bots(portal, list(portal.bots.all()[:1]))
    assert result.status == Status.MISCONFIGURED and "plain http" in result.error_description
    assert len(calls) == 1


def test_a_followed_redirect_that_redirects_again_is_not_followed_twice(sim):
    portal = webhook_portal(sim, "oldname")
    bot = webhook_bot(sim, portal, "support_bot")
    sim.rename_portal("oldname", "newname")
    sim.inject_fault("newname", "redirect", location=f"{sim.portal_url('third')}/rest/")
    [result] = verify_bots(portal, [bot])
    assert result.status == Status.MISCONFIGURED and "a second redirect" in result.error_description
    assert sim.stats("newname")["requests"] == 2  # the rename's 302, then the one re-POST


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_a_portal_on_a_private_network_is_refused_without_a_request(sim, settings, monkeypatch, host):
    settings.BOTWATCH_ALLOW_PRIVATE_PORTALS = False
    monkeypatch.setattr(net_client._local, "session", None)  # no connection kept alive from before
    portal = webhook_portal(sim)
    bot = webhook_bot(sim, portal, "support_bot")
    # Written by the ORM: the hostname one is only found out when it resolves, at connect time.
    Portal.objects.filter(pk=portal.pk).update(url=portal.url.replace("127.0.0.1", host))
    portal.refresh_from_db()
    [result] = verify_bots(portal, [bot])
    assert result.status == Status.MISCONFIGURED
    assert "BOTWATCH_ALLOW_PRIVATE_PORTALS=1" in result.error_description
    assert sim.stats("acme")["requests"] == 0


def test_a_token_server_on_a_private_network_is_refused(sim, settings, monkeypatch):
    settings.BITRIX24_OAUTH_URL = sim.oauth_url
    portal = oauth_portal(sim)
    settings.BOTWATCH_ALLOW_PRIVATE_PORTALS = False
    monkeypatch.setattr(net_client._local, "session", None)  # no connection kept alive from before
    result = refresh_access_token(portal, net_client.thread_session(), portal.oauth_access_token, persist=True)
    assert not result.ok and result.status == Status.MISCONFIGURED
    assert "BOTWATCH_ALLOW_PRIVATE_PORTALS=1" in result.description
    assert sim.stats("oauthco")["oauth_refreshes"] == 0
