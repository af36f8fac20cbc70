"""Shared set-up for the client tests: an in-process simulator and matching Portal/Bot rows."""

import threading
import time
from collections.abc import Sequence

import pytest
from django.db import connection

from checks.bitrix24.batch import Planned, batch_parts, entry_result, pack_commands
from checks.bitrix24.client import Bitrix24Client
from checks.bitrix24.probe import PortalResult
from checks.bitrix24.transport import Answer
from checks.bitrix24.types import BotResult
from checks.models import AuthType, Bot, Portal
from simulator.server import Simulator

WEBHOOK_CODE = "whk-secret-0123456789"
CLIENT_SECRET = "client-secret-abcdef"


@pytest.fixture
def sim(simulator: Simulator) -> Simulator:
    """The shared in-process simulator (tests/fixtures/simulator.py), started on a free port."""
    return simulator


@pytest.fixture
def oauth_server(sim, settings):
    """OAuth refreshes go to the simulator's token server."""
    settings.BITRIX24_OAUTH_URL = sim.oauth_url


@pytest.fixture
def fast(settings):
    """Short retry delays and timeouts so the tests stay fast."""
    settings.BITRIX24_RETRY_DELAY = 0.01
    settings.BITRIX24_TIMEOUT = 5.0
    settings.BOTWATCH_ALLOW_HTTP = True
    return settings


def webhook_portal(sim, name="acme", *, save=True, sim_rate=100, sim_burst=100, **sim_kwargs) -> Portal:
    sim.add_portal(name, webhook_user_id=1, webhook_code=WEBHOOK_CODE, rate=sim_rate, burst=sim_burst, **sim_kwargs)
    portal = Portal(
        name=name,
        url=sim.portal_url(name),
        auth_type=AuthType.WEBHOOK,
        webhook_user_id=1,
        webhook_code=WEBHOOK_CODE,
        pace_rate=100,
        pace_burst=100,
    )
    if save:
        portal.save()
    return portal


def oauth_portal(sim, name="oauthco", *, save=True, client_id="local.app1", **sim_kwargs) -> Portal:
    sim.add_portal(name, webhook_code=None, rate=100, burst=100, **sim_kwargs)
    tokens = sim.add_oauth_app(name, client_id, CLIENT_SECRET)
    portal = Portal(
        name=name,
        url=sim.portal_url(name),
        auth_type=AuthType.OAUTH,
        oauth_client_id=client_id,
        oauth_client_secret=CLIENT_SECRET,
        oauth_access_token=tokens["access_token"],
        oauth_refresh_token=tokens["refresh_token"],
        pace_rate=100,
        pace_burst=100,
    )
    if save:
        portal.save()
    return portal


def webhook_bot(sim, portal: Portal, code: str, *, token: str | None = None, save=True, **sim_kwargs) -> Bot:
    token = token or f"tok-{code}-secret"
    # Webhook mode: these tests are about Bot.get; the fetch-mode health calls have their own.
    sim.add_bot(portal.name, code=code, bot_token=token, **{"event_mode": "webhook", **sim_kwargs})
    bot = Bot(portal=portal, code=code, bot_token=token)
    if save:
        bot.save()
    return bot


def oauth_bot(sim, portal: Portal, code: str, *, save=True, **sim_kwargs) -> Bot:
    sim.add_bot(portal.name, code=code, app_client_id=portal.oauth_client_id, **{"event_mode": "webhook", **sim_kwargs})
    bot = Bot(portal=portal, code=code)
    if save:
        bot.save()
    return bot


def in_thread(call, limit: float = 10.0):
    """(value, seconds) of call() run in a thread, so that a client that hangs fails the test instead."""
    outcome: dict = {}

    def run() -> None:
        try:
            outcome["value"] = call()
        except BaseException as exc:  # handed to the test below
            outcome["error"] = exc
        finally:
            connection.close()

    started = time.monotonic()
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(limit)
    assert not thread.is_alive(), f"the client was still waiting after {limit:g} s"
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"], time.monotonic() - started


def verify_run(
    portal: Portal, bots: Sequence[Bot], *, known: PortalResult | None = None, fresh: bool = False, **options
) -> tuple[PortalResult | None, list[BotResult]]:
    """The client's run with the portal probe (none when `known`: a later chunk of the same run, whose
    bots are then not called when the portal fails); the portal's outcome and the bots', unjudged."""
    client = Bitrix24Client(portal, **options)
    results = client.verify_bots(bots, fresh=fresh, probe=known is None, known=known)
    return client.portal_result or known, results


def build_commands(client: Bitrix24Client, bots: list[Bot]) -> dict[str, str]:
    """The `cmd` of one batch for these bots and their due health calls."""
    return pack_commands(client, [Planned(i, bot, client.side_calls(bot)) for i, bot in enumerate(bots)])


def parse_batch(answer: Answer, keys: list[str]) -> list[BotResult] | None:
    """Per-key Bot.get results of a 200 batch answer, or None when it is not shaped like one."""
    parts = batch_parts(answer)
    return None if parts is None else [entry_result(key, *parts, answer) for key in keys]


def two_bots(sim, portal: Portal) -> list[Bot]:
    return [webhook_bot(sim, portal, "support_bot"), webhook_bot(sim, portal, "sales_bot")]
