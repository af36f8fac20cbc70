"""OAuth portals with a token broker: BotWatch asks the app's backend over HTTP and never refreshes."""
# ruff: noqa: F811 - the fixtures imported from tests.bitrix24.helpers are parameters here

import logging
import time
from datetime import UTC, datetime

import pytest
from django.db import connection

from checks.bitrix24.broker import MAX_ANSWER, parse_expires_at
from checks.bitrix24.client import verify_bots
from checks.models import Bot, Portal
from checks.status import Status
from tests.bitrix24.brokers import BROKER_SECRET, broker_portal
from tests.bitrix24.helpers import fast, oauth_bot, sim  # noqa: F401 - fixtures
from tests.fixtures.receiver import answer, raw_receiver, trickle

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast")]


@pytest.fixture(autouse=True)
def _oauth_server(sim, settings):
    settings.BITRIX24_OAUTH_URL = sim.oauth_url  # so that a refresh, which must not happen, would be counted


def the_apps_token(sim, portal_name: str) -> str:
    [token] = [t for t in sim.state()["tokens"] if t["portal"] == portal_name]
    return token["access_token"]


def test_a_brokered_portal_is_verified_with_the_brokers_token_which_is_stored_encrypted(sim):
    portal = broker_portal(sim)
    bot = oauth_bot(sim, portal, "app_bot")
    [result] = verify_bots(portal, [bot])
    assert result.status == Status.OK, result.error_description
    assert result.counters is not None
    stored = Portal.objects.get(pk=portal.pk)
    assert stored.oauth_access_token == the_apps_token(sim, "brokered")
    assert stored.oauth_expires_at is not None and stored.oauth_expires_at > datetime.now(UTC)
    with connection.cursor() as cursor:
        cursor.execute("SELECT oauth_access_token, oauth_broker_secret FROM checks_portal WHERE id = %s", [portal.pk])
        raw_token, raw_secret = cursor.fetchone()
    assert raw_token.startswith("fernet2:") and stored.oauth_access_token not in raw_token
    assert raw_secret.startswith("fernet2:") and BROKER_SECRET not in raw_secret
    assert sim.stats("brokered")["broker_calls"] == 1


def test_the_stored_token_is_used_until_it_expires_then_the_broker_is_asked_again(sim):
    portal = broker_portal(sim)
    bot = oauth_bot(sim, portal, "app_bot")
    verify_bots(portal, [bot])
    [again] = verify_bots(Portal.objects.get(pk=portal.pk), [bot])
    assert again.status == Status.OK
    assert sim.stats("brokered")["broker_calls"] == 1
    Portal.objects.filter(pk=portal.pk).update(oauth_expires_at=datetime(2020, 1, 1, tzinfo=UTC))
    [later] = verify_bots(Portal.objects.get(pk=portal.pk), [bot])
    assert later.status == Status.OK
    assert sim.stats("brokered")["broker_calls"] == 2


def test_an_expired_token_is_fetched_again_from_the_broker_never_refreshed_by_botwatch(sim):
    portal = broker_portal(sim)
    bot = oauth_bot(sim, portal, "app_bot")
    verify_bots(portal, [bot])
    before = Portal.objects.get(pk=portal.pk).oauth_access_token
    sim.expire_access_tokens("brokered")
    [result] = verify_bots(Portal.objects.get(pk=portal.pk), [bot])
    assert result.status == Status.OK, result.error_description
    stats = sim.stats("brokered")
    assert stats["oauth_refreshes"] == 0  # BotWatch never used the OAuth server
    assert stats["broker_refreshes"] == 1  # the app refreshed its own chain, once
    assert stats["broker_calls"] == 2
    stored = Portal.objects.get(pk=portal.pk)
    assert stored.oauth_access_token != before
    assert stored.oauth_access_token == the_apps_token(sim, "brokered")
    assert stored.oauth_refresh_token == ""


def test_a_wrong_broker_secret_is_auth_failed_and_says_so(sim):
    portal = broker_portal(sim)
    Portal.objects.filter(pk=portal.pk).update(oauth_broker_secret="not-the-secret")
    bot = oauth_bot(sim, portal, "app_bot")
    [result] = verify_bots(Portal.objects.get(pk=portal.pk), [bot])
    assert result.status == Status.AUTH_FAILED
    assert result.error_description == "token broker: unauthorized: wrong broker secret"
    assert result.http_status == 401


def test_a_broker_that_hands_out_the_refused_token_again_is_auth_failed(sim):
    portal = broker_portal(sim)
    bot = oauth_bot(sim, portal, "app_bot")
    verify_bots(portal, [bot])
    # The portal refuses the token, yet the app's backend still has it (it did not notice the expiry).
    stale = Portal.objects.get(pk=portal.pk)
    sim.inject_fault("brokered", "expired_token", method="imbot.v2.Bot.get", times=1)
    [result] = verify_bots(stale, [bot])
    assert result.status == Status.AUTH_FAILED
    assert "handed out the access token the portal has just refused" in result.error_description
    assert sim.stats("brokered")["oauth_refreshes"] == 0


@pytest.mark.parametrize(
    ("kind", "status", "words"),
    [
        ("html_500", Status.SERVER_ERROR, "token broker: HTTP 500"),
        ("invalid_grant", Status.AUTH_FAILED, "token broker: invalid_grant"),
        ("not_json", Status.BAD_RESPONSE, "not a JSON object"),
    ],
)
def test_broker_failures_are_classified(sim, kind, status, words):
    portal = broker_portal(sim)
    bot = oauth_bot(sim, portal, "app_bot")
    sim.inject_fault("brokered", kind, method="broker")
    [result] = verify_bots(portal, [bot])
    assert result.status == status
    assert words in result.error_description
    assert sim.stats("brokered")["methods"].get("imbot.v2.Bot.get", 0) == 0  # no call without a token


@pytest.mark.parametrize("batch", [True, False], ids=["batch", "single-calls"])
def test_a_failing_broker_is_asked_once_per_run_not_once_per_bot(sim, batch):
    portal = broker_portal(sim, batch_imbot=batch)
    Portal.objects.filter(pk=portal.pk).update(batch_supported=batch)
    bots = [oauth_bot(sim, portal, f"bot_{i}") for i in range(3)]
    sim.inject_fault("brokered", "html_502", method="broker")
    results = verify_bots(Portal.objects.get(pk=portal.pk), bots)
    assert [r.status for r in results] == [Status.SERVER_ERROR] * 3
    assert sim.stats("brokered")["broker_calls"] == 1
    assert sim.stats("brokered")["requests"] == 0  # nothing sent to the portal without a token


def test_a_brokered_portal_is_verified_in_one_batch(sim):
    portal = broker_portal(sim)
    bots = [oauth_bot(sim, portal, f"bot_{i}") for i in range(3)]
    results = verify_bots(portal, bots)
    assert [r.status for r in results] == [Status.OK] * 3
    stats = sim.stats("brokered")
    assert (stats["broker_calls"], stats["batch_requests"]) == (1, 1)


def test_a_broker_that_never_answers_is_unreachable_within_the_timeout(sim, settings):
    settings.BITRIX24_TIMEOUT = 1.0
    portal = broker_portal(sim)
    bot = oauth_bot(sim, portal, "app_bot")
    sim.inject_fault("brokered", "timeout", method="broker", sleep_s=5)
    started = time.monotonic()
    [result] = verify_bots(portal, [bot])
    assert time.monotonic() - started < 2.5
    assert result.status == Status.UNREACHABLE
    assert result.error_description.startswith("token broker: timeout")


@pytest.mark.parametrize(
    "script_args",
    [
        # Headers at once, then the body a byte every 0.3 s: each read is quick, the whole is not.
        (
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 60\r\n\r\n",
            b'{"access_token": "t"' * 3,
        ),
        # The header block itself trickles in.
        (b"", b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"),
    ],
    ids=["body", "headers"],
)
def test_an_answer_that_trickles_in_is_cut_at_the_deadline(settings, script_args):
    settings.BITRIX24_TIMEOUT = 1.0
    with raw_receiver(trickle(*script_args, every_s=0.3)) as server:
        portal = Portal.objects.create(
            name="trickle", url="http://127.0.0.1:9/p", auth_type="oauth", oauth_client_id="x",
            oauth_broker_url=server.url, oauth_broker_secret=BROKER_SECRET,
        )  # fmt: skip
        bot = Bot.objects.create(portal=portal, code="b")
        started = time.monotonic()
        [result] = verify_bots(portal, [bot])
        elapsed = time.monotonic() - started
    assert result.status == Status.UNREACHABLE
    assert "timeout" in result.error_description
    assert elapsed < 1.8


def brokered_by(url: str) -> tuple[Portal, Bot]:
    portal = Portal.objects.create(
        name="raw", url="http://127.0.0.1:9/p", auth_type="oauth", oauth_client_id="x",
        oauth_broker_url=url, oauth_broker_secret=BROKER_SECRET,
    )  # fmt: skip
    return portal, Bot.objects.create(portal=portal, code="b")


@pytest.mark.parametrize(
    ("script", "status", "words"),
    [
        (answer(200, b"x" * (MAX_ANSWER + 10)), Status.BAD_RESPONSE, "larger than 64 KB"),
        (answer(200, {"token": "t"}), Status.BAD_RESPONSE, "without access_token"),
        (answer(200, {"access_token": "t", "expires_at": "soon"}), Status.BAD_RESPONSE, "expires_at 'soon'"),
        (answer(302, b"", {"Location": "https://elsewhere.example/t"}), Status.MISCONFIGURED, "elsewhere.example"),
        (answer(404, b"nope"), Status.MISCONFIGURED, "nothing answers at broker_url"),
        (answer(403, b""), Status.AUTH_FAILED, "refused broker_secret"),
        (answer(503, b""), Status.RATE_LIMITED, "HTTP 503"),
    ],
    ids=["oversized", "no-token", "bad-expiry", "redirect", "404", "403", "503"],
)
def test_what_a_broker_answers_is_classified_with_a_clear_description(script, status, words):
    with raw_receiver(script) as server:
        portal, bot = brokered_by(server.url)
        [result] = verify_bots(portal, [bot])
    assert result.status == status
    assert result.error_description.startswith("token broker: ")
    assert words in result.error_description


def test_the_broker_gets_the_secret_as_a_bearer_header_and_it_is_never_logged(caplog):
    caplog.set_level(logging.DEBUG)
    with raw_receiver(answer(401, b"")) as server:
        portal, bot = brokered_by(server.url)
        [result] = verify_bots(portal, [bot])
    [request] = server.requests
    assert request.startswith(b"GET /token HTTP/1.1\r\n")
    assert f"Authorization: Bearer {BROKER_SECRET}".encode() in request
    assert BROKER_SECRET not in caplog.text
    assert BROKER_SECRET not in result.error_description
    assert "method=token.broker" in caplog.text


def test_a_refused_connection_is_unreachable():
    with raw_receiver(answer(200, b"")) as server:
        url = server.url
    portal, bot = brokered_by(url)  # the server is gone: nothing listens there any more
    [result] = verify_bots(portal, [bot])
    assert result.status == Status.UNREACHABLE
    assert "connection refused" in result.error_description


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1_900_000_000, datetime.fromtimestamp(1_900_000_000, UTC)),
        ("2030-03-01T10:00:00Z", datetime(2030, 3, 1, 10, tzinfo=UTC)),
        ("2030-03-01T12:00:00+02:00", datetime(2030, 3, 1, 10, tzinfo=UTC)),
        ("2030-03-01T10:00:00", datetime(2030, 3, 1, 10, tzinfo=UTC)),
        (None, None),
    ],
)
def test_expires_at_is_unix_seconds_or_iso_8601(value, expected):
    assert parse_expires_at(value) == expected


@pytest.mark.parametrize("value", ["tomorrow", True, [1], 10**20])
def test_other_expiry_values_are_refused(value):
    with pytest.raises(ValueError, match="neither Unix seconds nor an ISO 8601 time"):
        parse_expires_at(value)
