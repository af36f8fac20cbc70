"""No webhook code, bot token, OAuth token or client secret in logs or result descriptions."""
# ruff: noqa: F811 - the fixtures imported from tests.bitrix24.helpers are parameters here

import logging
from dataclasses import asdict

import pytest

from checks.bitrix24.client import verify_bots
from checks.bitrix24.transport import mask_url
from checks.models import Portal
from checks.status import Status
from tests.bitrix24.helpers import (  # noqa: F401 - fixtures
    CLIENT_SECRET,
    WEBHOOK_CODE,
    fast,
    oauth_bot,
    oauth_portal,
    sim,
    webhook_bot,
    webhook_portal,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast")]


def assert_no_secret(secrets: list[str], *texts: str) -> None:
    for text in texts:
        for secret in secrets:
            assert secret not in text, f"secret leaked: {text[:200]!r}"


def test_mask_url_hides_webhook_code_and_secret_parameters():
    assert mask_url("https://x.bitrix24.com/rest/1/abc123/imbot.v2.Bot.get") == (
        "https://x.bitrix24.com/rest/1/***/imbot.v2.Bot.get"
    )
    assert mask_url("/oauth/token/?grant_type=refresh_token&client_secret=s&refresh_token=r") == (
        "/oauth/token/?grant_type=refresh_token&client_secret=***&refresh_token=***"
    )
    assert mask_url("imbot.v2.Bot.get?code=x&botToken=tok") == "imbot.v2.Bot.get?code=x&botToken=***"


def test_webhook_calls_log_no_secret(sim, caplog):
    caplog.set_level(logging.DEBUG)
    portal = webhook_portal(sim, "oldname")
    bots = [webhook_bot(sim, portal, f"bot_{i}", token=f"bot-token-secret-{i}") for i in range(3)]
    sim.rename_portal("oldname", "newname")
    results = verify_bots(portal, bots)  # redirect + batch
    results += verify_bots(portal, bots[:1])  # single call
    sim.inject_fault("newname", "html_500")
    results += verify_bots(portal, bots[:1])
    assert {r.status for r in results[:4]} == {Status.OK}
    secrets = [WEBHOOK_CODE] + [b.bot_token for b in bots]
    assert "imbot.v2.Bot.get" in caplog.text and "/rest/1/***/" in caplog.text
    # urllib3's own DEBUG lines carry the request path: they are masked too.
    assert any(r.name.startswith("urllib3") and "/rest/1/***/" in r.getMessage() for r in caplog.records)
    assert_no_secret(secrets, caplog.text, *(str(asdict(r)) for r in results))


def test_transport_failures_log_and_describe_no_secret(fast, caplog):
    caplog.set_level(logging.DEBUG)
    portal = Portal.objects.create(
        name="gone", url="http://127.0.0.1:9/x", webhook_user_id=1, webhook_code=WEBHOOK_CODE, pace_rate=100
    )
    bot = portal.bots.create(code="b", bot_token="bot-token-secret-x")
    [result] = verify_bots(portal, [bot])
    assert result.status == Status.UNREACHABLE
    assert_no_secret([WEBHOOK_CODE, "bot-token-secret-x"], caplog.text, result.error_description)


def test_oauth_refresh_logs_no_secret(sim, settings, caplog):
    settings.BITRIX24_OAUTH_URL = sim.oauth_url
    caplog.set_level(logging.DEBUG)
    portal = oauth_portal(sim)
    bot = oauth_bot(sim, portal, "app_bot")
    old = [portal.oauth_access_token, portal.oauth_refresh_token]
    sim.expire_access_tokens("oauthco")
    [result] = verify_bots(portal, [bot])
    assert result.status == Status.OK
    stored = Portal.objects.get(pk=portal.pk)
    secrets = [CLIENT_SECRET, *old, stored.oauth_access_token, stored.oauth_refresh_token]
    assert "oauth.refresh" in caplog.text
    assert_no_secret(secrets, caplog.text, str(asdict(result)))


def test_refresh_failure_description_holds_no_secret(sim, settings, caplog):
    settings.BITRIX24_OAUTH_URL = sim.oauth_url
    caplog.set_level(logging.DEBUG)
    portal = oauth_portal(sim)
    bot = oauth_bot(sim, portal, "app_bot")
    sim.uninstall_app("oauthco", "local.app1")
    [result] = verify_bots(portal, [bot])
    assert result.status == Status.AUTH_FAILED
    secrets = [CLIENT_SECRET, portal.oauth_access_token, portal.oauth_refresh_token]
    assert_no_secret(secrets, caplog.text, str(asdict(result)))


def test_description_echoing_a_secret_is_redacted(sim):
    portal = webhook_portal(sim)
    bot = webhook_bot(sim, portal, "support_bot", token="bot-token-echoed")
    sim.inject_fault(
        "acme", "custom", code="ODD", http_status=400, description=f"bad {WEBHOOK_CODE} and bot-token-echoed"
    )
    [result] = verify_bots(portal, [bot])
    assert result.error_description == "bad *** and ***"
