"""The simulator's dialogs: a message written to a bot, and its backend's answer read back with
im.dialog.messages.get (newest first, FIRST_ID, LIMIT), as each backend behaviour makes it."""

import pytest
import requests


@pytest.fixture
def portal(simulator):
    now = [1_800_000_000.0]
    simulator.clock = lambda: now[0]
    simulator.add_portal("acme", webhook_user_id=7, webhook_code="hook")
    simulator.add_bot("acme", "support_bot", bot_id=456, bot_token="tok")
    simulator.now = now
    return simulator


def call(sim, method: str, body: dict, user: int = 7, code: str = "hook") -> requests.Response:
    return requests.post(f"{sim.portal_url('acme')}/rest/{user}/{code}/{method}.json", json=body, timeout=5)


def send(sim, text: str = "/ping", dialog: str = "456", **auth) -> int:
    resp = call(sim, "im.message.add", {"DIALOG_ID": dialog, "MESSAGE": text}, **auth)
    assert resp.status_code == 200, resp.text
    return resp.json()["result"]


def read(sim, first_id: int = 0, dialog: str = "456", limit: int | None = None, **auth) -> list[dict]:
    body = {"DIALOG_ID": dialog, "FIRST_ID": first_id, **({"LIMIT": limit} if limit else {})}
    resp = call(sim, "im.dialog.messages.get", body, **auth)
    assert resp.status_code == 200, resp.text
    return resp.json()["result"]["messages"]


def test_a_bot_answers_after_its_delay(portal):
    portal.set_answer("acme", "support_bot", delay_s=3)
    sent = send(portal)
    assert read(portal, sent) == []
    portal.now[0] += 3
    [answer] = read(portal, sent)
    assert answer["author_id"] == 456 and answer["text"] == "pong" and answer["id"] > sent
    assert answer["date"] == "2027-01-15T08:00:03+00:00"


def test_messages_come_newest_first_and_limit_takes_the_first_after_first_id(portal):
    portal.set_answer("acme", "support_bot", delay_s=0)
    ids = [send(portal, f"m{i}") for i in range(3)]
    got = read(portal, ids[0])
    assert [m["id"] for m in got] == sorted((m["id"] for m in got), reverse=True)
    assert [m["text"] for m in read(portal, ids[0], limit=2)] == ["m1", "pong"]


def test_a_bot_that_never_answers_writes_nothing(portal):
    portal.set_answer("acme", "support_bot", mode="never")
    sent = send(portal)
    portal.now[0] += 600
    assert read(portal, sent) == []


def test_a_bot_answers_only_some_texts(portal):
    portal.set_answer("acme", "support_bot", delay_s=0, texts=["/ping"])
    first = send(portal, "hello")
    send(portal, "/ping")
    assert [m["author_id"] for m in read(portal, first)] == [456, 7]


def test_a_failing_backend_writes_nothing_and_is_counted(portal):
    portal.set_answer("acme", "support_bot", mode="error")
    sent = send(portal)
    portal.now[0] += 60
    assert read(portal, sent) == []
    assert portal.state()["portals"]["acme"]["answers_failed"] == 1


def test_a_refusing_dialog_answers_access_denied(portal):
    portal.set_answer("acme", "support_bot", mode="refuse")
    resp = call(portal, "im.message.add", {"DIALOG_ID": "456", "MESSAGE": "/ping"})
    assert resp.status_code == 403 and resp.json()["error"] == "ACCESS_DENIED"
    assert portal.messages("acme") == []


def test_a_webhook_without_im_gets_insufficient_scope(portal):
    portal.set_webhook_scope("acme", "imbot")
    for method in ("im.message.add", "im.dialog.messages.get"):
        resp = call(portal, method, {"DIALOG_ID": "456", "MESSAGE": "x"})
        assert resp.status_code == 403 and resp.json()["error"] == "insufficient_scope"


def test_a_probe_users_webhook_has_a_dialog_of_its_own(portal):
    portal.set_answer("acme", "support_bot", delay_s=0)
    portal.add_webhook("acme", 9, "pr0be", scope="im")
    sent = send(portal, user=9, code="pr0be")
    assert [m["author_id"] for m in read(portal, sent, user=9, code="pr0be")] == [456]
    assert read(portal, 0) == []  # user 7's dialog with the bot is another chat


def test_a_bot_answers_in_its_test_chat(portal):
    portal.set_answer("acme", "support_bot", delay_s=0, chat="chat12")
    sent = send(portal, dialog="chat12")
    assert [m["author_id"] for m in read(portal, sent, dialog="chat12")] == [456]


def test_a_bot_without_behaviour_gets_the_message_and_answers_nothing(portal):
    sent = send(portal)
    assert read(portal, sent) == []
    assert portal.stats("acme")["methods"]["im.message.add"] == 1


def test_growth_can_stop(portal):
    portal.set_growth("acme", "support_bot", False)
    before = portal.state()["portals"]["acme"]["bots"][0]["counters"]["countMessage"]
    requests.post(f"{portal.portal_url('acme')}/rest/7/hook/imbot.v2.Bot.get", json={"botId": 456, "botToken": "tok"},
                  timeout=5)  # fmt: skip
    assert portal.state()["portals"]["acme"]["bots"][0]["counters"]["countMessage"] == before


def test_bad_behaviour_is_refused_with_its_name(portal):
    with pytest.raises(Exception, match="delay_s"):
        portal.set_answer("acme", "support_bot", delay_s=-1)
