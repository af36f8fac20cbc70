"""The Bitrix24 chat channel against the bundled simulator over HTTP: im.message.add through an
incoming webhook of the support team's own portal, its errors, its deadline and bounded read."""

import socket
import threading
import time

import pytest

from checks.alerts import channel_delivery
from checks.alerts.notifiers import Bitrix24ChatNotifier, ChatMessage, NotifierError, send_to_channel
from checks.models import ChannelDelivery
from checks.status import Status
from tests.alerts.helpers import T0, make_bot, make_portal, minutes, sweep

CODE = "t3am-h00k-c0de"
MESSAGE = ChatMessage("[BotWatch] test", "A test from the dashboard.")


@pytest.fixture
def team(simulator, settings):
    settings.BOTWATCH_NOTIFY_URLS = []
    simulator.add_portal("team", webhook_user_id=7, webhook_code=CODE)
    return simulator


def chat_url(sim, code: str = CODE, dialog: str = "chat42", portal: str = "team") -> str:
    return sim.portal_url(portal).replace("http://", "bitrix24://") + f"/rest/7/{code}/?dialog={dialog}"


def failure(url: str) -> NotifierError:
    with pytest.raises(NotifierError) as caught:
        send_to_channel(url, MESSAGE)
    assert CODE not in caught.value.message
    return caught.value


@pytest.mark.django_db
def test_alerts_are_posted_into_the_team_chat_once_each(team):
    portal = make_portal(notify=[chat_url(team)])
    bot = make_bot(portal)
    sweep([bot], Status.NOT_FOUND, T0)
    sweep([bot], Status.NOT_FOUND, T0 + minutes(5))
    sweep([bot], Status.OK, T0 + minutes(10))

    posted = team.messages("team")
    assert [m["dialog_id"] for m in posted] == ["chat42", "chat42"]
    assert posted[0]["message"].startswith("[B][BotWatch] BOT_NOT_FOUND: support_bot on acme[/B]\nFailing on acme:")
    assert f"http://127.0.0.1:8000/bots/{bot.pk}/" in posted[0]["message"]
    assert posted[1]["message"].startswith("[B][BotWatch] RESOLVED: support_bot on acme (was BOT_NOT_FOUND)[/B]")
    assert not posted[0]["system"]
    assert set(ChannelDelivery.objects.values_list("state", flat=True)) == {"sent"}
    assert ChannelDelivery.objects.first().label.startswith("bitrix24://127.0.0.1 #")


def test_a_user_dialog_works_too(team):
    send_to_channel(chat_url(team, dialog="5"), MESSAGE)
    assert team.messages("team")[0]["dialog_id"] == "5"


@pytest.mark.parametrize(
    ("fault", "permanent", "said", "reason"),
    [
        ({"kind": "custom", "code": "ACCESS_ERROR", "http_status": 400}, True, "HTTP 400 ACCESS_ERROR", "rejected"),
        ({"kind": "QUERY_LIMIT_EXCEEDED"}, False, "HTTP 503 QUERY_LIMIT_EXCEEDED: Too many requests", "service"),
        ({"kind": "INTERNAL_SERVER_ERROR"}, False, "HTTP 500 INTERNAL_SERVER_ERROR", "service"),
        ({"kind": "html_502"}, False, "HTTP 502, not a Bitrix24 answer", "service"),
        ({"kind": "oversized"}, False, "answer over 64 KB", "rejected"),
        ({"kind": "reset"}, False, "cannot reach the portal", "unreachable"),
    ],
)
def test_errors_say_whether_they_pass_and_why(team, fault, permanent, said, reason):
    team.inject_fault("team", method="im.message.add", times=1, **fault)
    error = failure(chat_url(team))
    assert error.permanent is permanent
    assert said in error.message
    assert error.reason == reason
    assert error.message.startswith("bitrix24://127.0.0.1")
    send_to_channel(chat_url(team), MESSAGE)  # the fault fired once: the next post goes through
    assert len(team.messages("team")) == 1


def test_wrong_webhook_code_or_missing_chat_fail_for_good(team):
    wrong_code = failure(chat_url(team, code="wrong-c0de-value"))
    assert "NO_AUTH_FOUND" in wrong_code.message and wrong_code.permanent and wrong_code.reason == "auth"
    error = failure(chat_url(team).replace("?dialog=chat42", "?dialog=chat0"))
    assert error.permanent and "CHAT_ID_EMPTY" in error.message and error.reason == "rejected"
    assert team.messages("team") == []


def test_a_redirect_is_not_followed_with_the_code(team):
    url = chat_url(team)
    team.rename_portal("team", "team-renamed")
    error = failure(url)
    assert error.permanent and "HTTP 302 redirect to 127.0.0.1" in error.message and error.reason == "redirect"
    assert team.stats()["team-renamed"]["methods"].get("im.message.add", 0) == 0


def test_plain_http_needs_allow_http(team, settings):
    settings.BOTWATCH_ALLOW_HTTP = False
    error = failure(chat_url(team))
    assert error.permanent and "plain HTTP" in error.message


@pytest.fixture
def trickling_server():
    """Accepts, reads the request, then answers one byte every 0.1 s, for ever: no read ever times out."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    stop = threading.Event()

    def serve():
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            conn.recv(65536)
            try:
                for byte in b"HTTP/1.1 200 OK\r\n" * 1000:
                    if stop.is_set():
                        break
                    conn.send(bytes([byte]))
                    time.sleep(0.1)
            except OSError:
                pass
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join(5)
    server.close()


def test_an_answer_that_trickles_in_is_cut_at_the_deadline(trickling_server, settings):
    settings.BOTWATCH_NOTIFY_TIMEOUT = 1.0
    started = time.monotonic()
    with pytest.raises(NotifierError) as caught:
        Bitrix24ChatNotifier(f"bitrix24://127.0.0.1:{trickling_server}/rest/7/{CODE}/?dialog=chat42").notify(MESSAGE)
    took = time.monotonic() - started
    assert 0.9 < took < 2.5, took
    assert not caught.value.permanent and "no complete answer within 1 s" in caught.value.message


@pytest.mark.django_db
def test_a_portal_that_is_down_is_retried(team):
    portal = make_portal(notify=[chat_url(team)])
    team.inject_fault("team", "QUERY_LIMIT_EXCEEDED", method="im.message.add", times=1)
    sweep([make_bot(portal)], Status.NOT_FOUND, T0)
    row = ChannelDelivery.objects.get()
    assert row.state == "pending" and "QUERY_LIMIT_EXCEEDED" in row.error
    assert channel_delivery.deliver_channel(row.pk, now=row.next_attempt_at) == "sent"
    assert len(team.messages("team")) == 1
