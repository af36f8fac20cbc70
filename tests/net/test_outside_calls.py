"""Every kind of outside call obeys the same two rules, each against a real receiver over a socket:
an answer that trickles in is cut at the call's deadline, and with private addresses forbidden a
host name that resolves to 127.0.0.1 is refused before a single byte reaches it.

The five kinds: a portal's REST call, the OAuth refresh, a token broker, the Bitrix24 chat
channel and an Apprise channel (json://).
"""

from dataclasses import dataclass

import pytest

from checks.alerts.notifiers import ChatMessage, NotifierError, send_to_channel
from checks.bitrix24.client import verify_bots
from checks.bitrix24.oauth import refresh_access_token
from checks.models import AuthType, Bot, Portal
from checks.net.client import thread_session
from checks.status import Status
from tests.bitrix24.brokers import BROKER_SECRET
from tests.bitrix24.helpers import in_thread
from tests.fixtures.receiver import answer, raw_receiver, trickle

pytestmark = pytest.mark.django_db(transaction=True)

DEADLINE = 1.0
MARGIN = 1.0  # the watchdog's wake-up, thread start-up, the database write of a result
CODE = "w3bh00k-c0de-secret"
KINDS = ["portal", "oauth", "broker", "bitrix24_chat", "json"]
# Headers at once, then the body a byte every 0.3 s: every read is quick, the whole is not.
BODY_TRICKLE = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 60\r\n\r\n", b"{}" * 30)
# The header block itself never ends.
HEADER_TRICKLE = (b"", b"HTTP/1.1 200 OK\r\n" + b"X-Wait: still\r\n" * 10)


@pytest.fixture(autouse=True)
def short_deadlines(settings):
    settings.BITRIX24_TIMEOUT = DEADLINE
    settings.BOTWATCH_NOTIFY_TIMEOUT = DEADLINE
    settings.BITRIX24_RETRIES = 0
    settings.BOTWATCH_ALLOW_HTTP = True


@dataclass
class Outcome:
    """What the caller got, in the terms common to the five kinds."""

    ok: bool
    text: str
    permanent: bool = False


def call(kind: str, settings, host: str, port: int) -> Outcome:
    """One call of `kind` to the receiver at host:port."""
    base = f"http://{host}:{port}"
    if kind == "portal":
        portal = Portal.objects.create(name="p", url=f"{base}/p", webhook_user_id=1, webhook_code=CODE, pace_rate=100)
        [result] = verify_bots(portal, [Bot.objects.create(portal=portal, code="b", bot_token="t")])
        return Outcome(result.status == Status.OK, f"{result.status}: {result.error_description}")
    if kind == "oauth":
        settings.BITRIX24_OAUTH_URL = f"{base}/oauth/token/"
        portal = Portal.objects.create(
            name="o", url="https://o.bitrix24.com", auth_type=AuthType.OAUTH, oauth_client_id="app",
            oauth_client_secret="s3cret", oauth_access_token="old", oauth_refresh_token="refresh-me",
        )  # fmt: skip
        result = refresh_access_token(portal, thread_session(), "old", persist=True)
        return Outcome(result.ok, f"{result.status}: {result.description}")
    if kind == "broker":
        portal = Portal.objects.create(
            name="b", url="https://b.bitrix24.com", auth_type=AuthType.OAUTH, oauth_client_id="app",
            oauth_broker_url=f"{base}/token", oauth_broker_secret=BROKER_SECRET,
        )  # fmt: skip
        [result] = verify_bots(portal, [Bot.objects.create(portal=portal, code="b")])
        return Outcome(result.status == Status.OK, f"{result.status}: {result.error_description}")
    scheme, path = ("bitrix24", f"/rest/7/{CODE}/?dialog=chat42") if kind == "bitrix24_chat" else ("json", "/hook")
    try:
        send_to_channel(f"{scheme}://{host}:{port}{path}", ChatMessage("[BotWatch] test", "a test"))
    except NotifierError as exc:
        return Outcome(False, exc.message, exc.permanent)
    return Outcome(True, "delivered")


@pytest.mark.parametrize("script", [BODY_TRICKLE, HEADER_TRICKLE], ids=["body", "headers"])
@pytest.mark.parametrize("kind", KINDS)
def test_an_answer_that_trickles_in_is_cut_at_the_deadline(kind, script, settings):
    with raw_receiver(trickle(*script, every_s=0.3)) as receiver:
        outcome, seconds = in_thread(lambda: call(kind, settings, "127.0.0.1", receiver.port))
        assert receiver.accepted_before_probe() == 1  # it did reach the receiver
    assert seconds < DEADLINE + MARGIN, seconds
    assert not outcome.ok
    assert "timeout" in outcome.text or "timed out" in outcome.text, outcome.text


@pytest.mark.parametrize("kind", KINDS)
def test_a_name_that_resolves_to_a_private_address_is_refused_before_any_byte(kind, settings):
    settings.BOTWATCH_ALLOW_PRIVATE_PORTALS = False
    token = {"access_token": "t", "refresh_token": "r", "expires_in": 3600, "result": True}
    with raw_receiver(answer(200, token)) as receiver:
        outcome = call(kind, settings, "localhost", receiver.port)
        assert receiver.accepted_before_probe() == 0
    assert not outcome.ok
    assert "BOTWATCH_ALLOW_PRIVATE_PORTALS=1" in outcome.text, outcome.text
    assert receiver.requests == []


@pytest.mark.parametrize("kind", ["bitrix24_chat", "json"])
def test_a_refused_channel_says_the_same_whether_its_port_is_open_or_closed(kind, settings):
    settings.BOTWATCH_ALLOW_PRIVATE_PORTALS = False
    with raw_receiver(answer(200, {"result": True})) as receiver:
        open_port = call(kind, settings, "localhost", receiver.port)
        closed = receiver.port
    closed_port = call(kind, settings, "localhost", closed)
    assert open_port == closed_port
    assert open_port.permanent and open_port.text.endswith(
        "(BOTWATCH_ALLOW_PRIVATE_PORTALS=1 allows it, e.g. for on-premise portals)"
    )
