"""OAuth portals: one refresh on expired_token, rotated tokens stored, refresh failures classified."""
# ruff: noqa: F811 - the fixtures imported from tests.bitrix24.helpers are parameters here

import pytest
from django.db import connection

from checks.bitrix24.client import verify_bots
from checks.models import Portal
from checks.status import Status
from tests.bitrix24.helpers import fast, oauth_bot, oauth_portal, sim  # noqa: F401 - fixtures

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast")]


@pytest.fixture(autouse=True)
def _oauth_server(sim, settings):
    settings.BITRIX24_OAUTH_URL = sim.oauth_url


def live_pair(sim, portal_name: str) -> tuple[str, str]:
    [token] = [t for t in sim.state()["tokens"] if t["portal"] == portal_name]
    return token["access_token"], token["refresh_token"]


def test_oauth_call_sends_the_access_token_and_no_bot_token(sim):
    portal = oauth_portal(sim)
    bot = oauth_bot(sim, portal, "app_bot")
    [result] = verify_bots(portal, [bot])
    assert result.status == Status.OK
    assert result.counters is not None
    assert sim.stats("oauthco")["oauth_refreshes"] == 0


def test_expired_token_is_refreshed_once_and_the_new_pair_is_stored(sim):
    portal = oauth_portal(sim)
    bot = oauth_bot(sim, portal, "app_bot")
    old_access, old_refresh = portal.oauth_access_token, portal.oauth_refresh_token
    sim.expire_access_tokens("oauthco")
    [result] = verify_bots(portal, [bot])
    assert result.status == Status.OK
    assert sim.stats("oauthco")["oauth_refreshes"] == 1
    stored = Portal.objects.get(pk=portal.pk)
    assert (stored.oauth_access_token, stored.oauth_refresh_token) == live_pair(sim, "oauthco")
    assert stored.oauth_access_token != old_access and stored.oauth_refresh_token != old_refresh
    assert stored.oauth_refreshed_at is not None
    assert stored.oauth_expires_at is not None
    assert stored.oauth_refresh_lock_until is None
    # Stored encrypted, never in clear.
    with connection.cursor() as cursor:
        cursor.execute("SELECT oauth_access_token, oauth_refresh_token FROM checks_portal WHERE id = %s", [portal.pk])
        raw_access, raw_refresh = cursor.fetchone()
    assert raw_access.startswith("fernet2:") and stored.oauth_access_token not in raw_access
    assert raw_refresh.startswith("fernet2:") and stored.oauth_refresh_token not in raw_refresh


def test_a_fresh_token_is_used_without_another_refresh(sim):
    portal = oauth_portal(sim)
    bot = oauth_bot(sim, portal, "app_bot")
    sim.expire_access_tokens("oauthco")
    verify_bots(portal, [bot])
    [again] = verify_bots(Portal.objects.get(pk=portal.pk), [bot])
    assert again.status == Status.OK
    assert sim.stats("oauthco")["oauth_refreshes"] == 1


def test_stale_portal_object_picks_up_the_token_another_worker_stored(sim):
    portal = oauth_portal(sim)
    bot = oauth_bot(sim, portal, "app_bot")
    stale = Portal.objects.get(pk=portal.pk)
    sim.expire_access_tokens("oauthco")
    verify_bots(portal, [bot])  # refreshes and stores
    [result] = verify_bots(stale, [bot])
    assert result.status == Status.OK
    assert sim.stats("oauthco")["oauth_refreshes"] == 1


def test_dead_refresh_token_is_auth_failed_invalid_grant(sim):
    portal = oauth_portal(sim)
    bot = oauth_bot(sim, portal, "app_bot")
    Portal.objects.filter(pk=portal.pk).update(oauth_refresh_token="not-a-live-refresh-token")
    portal.refresh_from_db()
    sim.expire_access_tokens("oauthco")
    [result] = verify_bots(portal, [bot])
    assert (result.status, result.error_code) == (Status.AUTH_FAILED, "invalid_grant")
    assert "expired_token" in result.error_description
    assert Portal.objects.get(pk=portal.pk).oauth_refresh_lock_until is None


def test_uninstalled_app_is_auth_failed_invalid_client(sim):
    portal = oauth_portal(sim)
    bot = oauth_bot(sim, portal, "app_bot")
    sim.uninstall_app("oauthco", "local.app1")
    [result] = verify_bots(portal, [bot])
    assert result.status == Status.AUTH_FAILED
    assert result.error_code == "invalid_client"
    assert sim.stats("oauthco")["oauth_refreshes"] == 0


def test_expired_token_that_stays_expired_after_refresh_is_auth_failed(sim):
    portal = oauth_portal(sim)
    bot = oauth_bot(sim, portal, "app_bot")
    sim.inject_fault("oauthco", "expired_token")
    [result] = verify_bots(portal, [bot])
    assert (result.status, result.error_code) == (Status.AUTH_FAILED, "expired_token")
    assert sim.stats("oauthco")["oauth_refreshes"] == 1  # refresh once, never loop


def test_unreachable_oauth_server_is_unreachable(sim, settings):
    settings.BITRIX24_OAUTH_URL = "http://127.0.0.1:9/oauth/token/"
    portal = oauth_portal(sim)
    bot = oauth_bot(sim, portal, "app_bot")
    sim.expire_access_tokens("oauthco")
    [result] = verify_bots(portal, [bot])
    assert result.status == Status.UNREACHABLE
    assert "token refresh" in result.error_description


def test_test_connection_does_not_refresh_tokens_it_cannot_store(sim, django_assert_num_queries):
    portal = oauth_portal(sim, save=False)
    bot = oauth_bot(sim, portal, "app_bot", save=False)
    before = live_pair(sim, "oauthco")
    sim.expire_access_tokens("oauthco")
    with django_assert_num_queries(0):
        [result] = verify_bots(portal, [bot], persist=False)
    assert (result.status, result.error_code) == (Status.AUTH_FAILED, "expired_token")
    assert "test connection does not refresh" in result.error_description
    assert sim.stats("oauthco")["oauth_refreshes"] == 0
    assert live_pair(sim, "oauthco") == before == (portal.oauth_access_token, portal.oauth_refresh_token)


def test_test_connection_with_a_live_token_is_ok(sim, django_assert_num_queries):
    portal = oauth_portal(sim, save=False)
    bot = oauth_bot(sim, portal, "app_bot", save=False)
    with django_assert_num_queries(0):
        [result] = verify_bots(portal, [bot], persist=False)
    assert result.status == Status.OK


def test_missing_scope_is_auth_failed(sim):
    sim.add_portal("noscope", webhook_code=None, rate=100, burst=100)
    tokens = sim.add_oauth_app("noscope", "local.app2", "s3cr3t-value", scope="crm")
    portal = Portal.objects.create(
        name="noscope",
        url=sim.portal_url("noscope"),
        auth_type="oauth",
        oauth_client_id="local.app2",
        oauth_client_secret="s3cr3t-value",
        oauth_access_token=tokens["access_token"],
        oauth_refresh_token=tokens["refresh_token"],
        pace_rate=100,
    )
    bot = portal.bots.create(code="x")
    [result] = verify_bots(portal, [bot])
    assert (result.status, result.error_code, result.http_status) == (Status.AUTH_FAILED, "insufficient_scope", 403)


def test_batch_refreshes_once_for_all_bots(sim):
    portal = oauth_portal(sim)
    bots = [oauth_bot(sim, portal, f"app_bot_{i}") for i in range(3)]
    sim.expire_access_tokens("oauthco")
    results = verify_bots(portal, bots)
    assert [r.status for r in results] == [Status.OK] * 3
    assert sim.stats("oauthco")["oauth_refreshes"] == 1
    assert sim.stats("oauthco")["methods"]["batch"] == 2  # refused, then retried with the new token


def test_portal_with_only_a_refresh_token_refreshes_first(sim):
    portal = oauth_portal(sim)
    bot = oauth_bot(sim, portal, "app_bot")
    Portal.objects.filter(pk=portal.pk).update(oauth_access_token="")
    [result] = verify_bots(Portal.objects.get(pk=portal.pk), [bot])
    assert result.status == Status.OK
    assert sim.stats("oauthco")["oauth_refreshes"] == 1
