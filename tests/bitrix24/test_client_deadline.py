"""A wall-clock deadline on every Bitrix24 exchange: a portal that answers a byte at a time, a
name that takes long to resolve or a TLS handshake that trickles ends as `unreachable` (timeout)
within BITRIX24_TIMEOUT, instead of holding a worker thread for as long as the peer likes."""
# ruff: noqa: F811 - the fixtures imported from tests.bitrix24.helpers are parameters here

import contextlib
import socket
import threading
import time

import pytest

from checks.bitrix24.client import verify_bots
from checks.models import Portal
from checks.status import Status
from tests.bitrix24.helpers import (  # noqa: F401 - fixtures
    fast,
    in_thread,
    oauth_bot,
    oauth_portal,
    sim,
    webhook_bot,
    webhook_portal,
)

pytestmark = [pytest.mark.usefixtures("transactional_db", "fast")]

TIMEOUT = 1.0
# A byte every 0.3 s: always well within the per-read timeout that requests applies.
TRICKLE = {"interval_s": 0.3, "sleep_s": 30}


@pytest.fixture(autouse=True)
def short_timeout(fast):
    fast.BITRIX24_TIMEOUT = TIMEOUT
    fast.BITRIX24_RETRIES = 0


def verify_alone(portal, bot):
    results, seconds = in_thread(lambda: verify_bots(portal, [bot]))
    [result] = results
    return result, seconds


@pytest.mark.parametrize("kind", ["trickle", "trickle_headers"])
def test_an_answer_trickling_in_is_cut_at_the_deadline(sim, kind):
    portal = webhook_portal(sim)
    bot = webhook_bot(sim, portal, "support_bot")
    sim.inject_fault("acme", kind, **TRICKLE)
    result, seconds = verify_alone(portal, bot)
    assert seconds < TIMEOUT + 1.5
    # The header trickle looks like "200 without a body" once cut: the deadline decides, not the status.
    assert result.status == Status.UNREACHABLE
    assert result.error_description.startswith("timeout: ")
    assert result.http_status is None


def test_a_trickling_token_refresh_is_cut_at_the_deadline(sim, settings):
    settings.BITRIX24_OAUTH_URL = sim.oauth_url
    portal = oauth_portal(sim)
    bot = oauth_bot(sim, portal, "assistant_bot")
    sim.expire_access_tokens("oauthco")
    sim.inject_fault("oauthco", "trickle", method="oauth", **TRICKLE)
    result, seconds = verify_alone(portal, bot)
    assert seconds < TIMEOUT + 1.5
    assert result.status == Status.UNREACHABLE
    assert "timeout" in result.error_description


def test_a_name_that_takes_long_to_resolve_counts_against_the_deadline(sim, monkeypatch):
    portal = webhook_portal(sim)
    bot = webhook_bot(sim, portal, "support_bot")
    real = socket.getaddrinfo

    def slow_dns(host, *args, **kwargs):
        if host == "slow-dns.invalid":
            time.sleep(5)
            host = "127.0.0.1"
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", slow_dns)
    Portal.objects.filter(pk=portal.pk).update(url=portal.url.replace("127.0.0.1", "slow-dns.invalid"))
    portal.refresh_from_db()
    result, seconds = verify_alone(portal, bot)
    assert seconds < TIMEOUT + 0.5
    assert result.status == Status.UNREACHABLE
    assert result.error_description.startswith("timeout: ")


@pytest.fixture
def trickling_tls_server():
    """A TCP server that starts a TLS record and then sends one byte every 0.3 s, for ever."""
    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            with conn, contextlib.suppress(OSError):
                conn.sendall(b"\x16\x03\x03\x40\x00")  # a handshake record of 16 KB follows...
                while not stop.wait(0.3):
                    conn.sendall(b"a")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join(5)
    server.close()


def test_a_tls_handshake_that_trickles_is_cut_at_the_deadline(sim, trickling_tls_server):
    portal = webhook_portal(sim)
    bot = webhook_bot(sim, portal, "support_bot")
    Portal.objects.filter(pk=portal.pk).update(url=f"https://127.0.0.1:{trickling_tls_server}/acme")
    portal.refresh_from_db()
    result, seconds = verify_alone(portal, bot)
    assert seconds < TIMEOUT + 1.5
    assert result.status == Status.UNREACHABLE
    assert result.error_description.startswith("timeout: ")


def test_a_fast_portal_still_answers_ok_and_keeps_its_connection(sim):
    portal = webhook_portal(sim)
    bots = [webhook_bot(sim, portal, f"bot_{i}") for i in range(3)]
    Portal.objects.filter(pk=portal.pk).update(batch_supported=False)
    portal.refresh_from_db()
    results, _ = in_thread(lambda: verify_bots(portal, bots))
    assert [r.status for r in results] == [Status.OK] * 3
    # Well after the deadlines of those exchanges: a kept-alive connection is not cut later.
    time.sleep(TIMEOUT + 0.3)
    results, _ = in_thread(lambda: verify_bots(portal, bots[:1]))
    assert results[0].status == Status.OK
