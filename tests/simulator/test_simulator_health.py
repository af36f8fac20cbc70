"""Health signals beyond Bot.get over real HTTP: imbot.v2.Event.get (the fetch queue), Command.list,
the owner-only errors, users[].active and BOT_OWNERSHIP_ERROR for a rotated token."""

import re
from datetime import datetime

import pytest
import requests

from simulator.server import Simulator

NOW = 1_787_299_200.0  # 2026-08-21T08:00:00+00:00
COMMAND_FIELDS = {"id", "botId", "command", "title", "params", "common", "hidden", "extranetSupport", "category",
                  "context"}  # fmt: skip


class Clock:
    def __init__(self, now: float = NOW):
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sim(clock):
    sim = Simulator(seed=7, clock=clock)
    sim.start()
    sim.add_portal("acme", burst=10_000, rate=1000)
    sim.add_bot("acme", code="queue_bot", bot_id=456, bot_token="tok")
    sim.add_bot("acme", code="other_bot", bot_id=457, bot_token="tok2")
    yield sim
    sim.stop()


def call(sim, method: str, portal: str = "acme", **params) -> requests.Response:
    return requests.post(f"{sim.portal_url(portal)}/rest/1/k3y/{method}", json=params, timeout=5)


def events(sim, **params) -> dict:
    resp = call(sim, "imbot.v2.Event.get", **{"botId": 456, "botToken": "tok", **params})
    assert resp.status_code == 200, resp.text
    return resp.json()["result"]


def ids(result: dict) -> list[int]:
    return [e["eventId"] for e in result["events"]]


def assert_error(resp: requests.Response, code: str, status: int = 400) -> None:
    assert resp.status_code == status, resp.text
    assert resp.json()["error"] == code


def test_event_get_without_offset_reads_the_oldest_and_keeps_the_queue(sim):
    sim.add_events("acme", "queue_bot", count=3, age_s=600)
    first = events(sim, limit=1)
    assert first["hasMore"] is True and first["nextOffset"] == 2
    [event] = first["events"]
    assert set(event) == {"eventId", "type", "date", "data"}
    assert event["eventId"] == 1 and event["type"] == "ONIMBOTV2MESSAGEADD"
    assert event["date"] == "2026-08-21T07:50:00+00:00"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", event["date"])
    assert event["data"]["bot"] == {"id": 456, "code": "queue_bot"}
    assert events(sim, limit=1) == first
    assert ids(events(sim)) == [1, 2, 3]
    stats = sim.stats("acme")
    assert stats["events_deleted"] == 0 and stats["event_get_with_offset"] == 0
    assert stats["methods"]["imbot.v2.event.get"] == 3


def test_events_are_spread_from_the_oldest_up_to_now(sim):
    sim.add_events("acme", "queue_bot", count=5, age_s=400, type="ONIMBOTV2JOINCHAT")
    dates = [datetime.fromisoformat(e["date"]).timestamp() for e in events(sim)["events"]]
    assert dates == [NOW - 400, NOW - 300, NOW - 200, NOW - 100, NOW]
    assert {e["type"] for e in events(sim)["events"]} == {"ONIMBOTV2JOINCHAT"}


def test_offset_acknowledges_and_deletes_lower_ids_and_is_counted(sim):
    sim.add_events("acme", "queue_bot", count=5)
    page = events(sim, offset=3)
    assert ids(page) == [3, 4, 5] and page["nextOffset"] == 6 and page["hasMore"] is False
    assert ids(events(sim)) == [3, 4, 5]
    assert ids(events(sim, OFFSET="5")) == [5]
    assert ids(events(sim, offset=0)) == [5]  # carried, but 0 acknowledges nothing
    stats = sim.stats("acme")
    assert stats["event_get_with_offset"] == 3
    assert stats["events_deleted"] == 4
    assert sim.state()["portals"]["acme"]["bots"][0]["events"] == 1


def test_offset_only_touches_the_asked_bot(sim):
    sim.add_events("acme", "queue_bot", count=2)
    sim.add_events("acme", "other_bot", count=2)
    assert ids(events(sim, offset=10)) == []
    other = call(sim, "imbot.v2.Event.get", botId=457, botToken="tok2").json()["result"]
    assert ids(other) == [3, 4]


@pytest.mark.parametrize(("limit", "returned"), [(None, 100), (0, 100), (-3, 1), (1, 1), (250, 250), (5000, 1000)])
def test_limit_defaults_to_100_and_is_clamped_to_1_1000(sim, limit, returned):
    sim.add_events("acme", "queue_bot", count=1200)
    page = events(sim, **({} if limit is None else {"limit": limit}))
    assert len(page["events"]) == returned and page["hasMore"] is True


def test_has_more_is_a_full_page_not_a_look_ahead(sim):
    assert events(sim, limit=1) == {"events": [], "nextOffset": 0, "hasMore": False}
    sim.add_events("acme", "queue_bot", count=2)
    assert events(sim, limit=2)["hasMore"] is True  # nothing after these two
    assert events(sim, limit=3)["hasMore"] is False


def test_events_older_than_24_hours_are_dropped_without_notice(sim, clock):
    sim.add_events("acme", "queue_bot", count=2, age_s=23 * 3600)
    sim.add_events("acme", "queue_bot", count=1)
    assert ids(events(sim)) == [1, 2, 3]
    clock.now += 3601  # event 1 is now 24 h + 1 s old
    assert ids(events(sim)) == [2, 3]
    assert sim.stats("acme")["events_expired"] == 1
    assert sim.stats("acme")["events_deleted"] == 0


def test_param_names_of_every_event_get_are_logged_batch_included(sim):
    events(sim, limit=1)
    cmd = {
        "events0": "imbot.v2.Event.get?botId=456&limit=1&botToken=tok",
        "bot0": "imbot.v2.Bot.get?botId=456&botToken=tok",
        "events1": "imbot.v2.Event.get?botId=457&Offset=2&botToken=tok2",
    }
    assert call(sim, "batch", cmd=cmd).status_code == 200
    stats = sim.stats("acme")
    assert stats["event_get_params"] == [
        ["botId", "botToken", "limit"],
        ["botId", "botToken", "limit"],
        ["Offset", "botId", "botToken"],
    ]
    assert stats["event_get_with_offset"] == 1
    assert stats["methods"]["imbot.v2.event.get"] == 3


def test_a_refused_event_get_is_logged_too(clock):
    sim = Simulator(clock=clock)
    sim.start()
    try:
        sim.add_portal("busy", burst=1, rate=0.001)
        sim.add_bot("busy", code="queue_bot", bot_id=456, bot_token="tok")
        assert call(sim, "imbot.v2.Event.get", "busy", botId=456, botToken="tok").status_code == 200
        resp = call(sim, "imbot.v2.Event.get", "busy", botId=456, botToken="tok", offset=1)
        assert_error(resp, "QUERY_LIMIT_EXCEEDED", 503)
        assert sim.stats("busy")["event_get_with_offset"] == 1
        assert len(sim.stats("busy")["event_get_params"]) == 2
    finally:
        sim.stop()


def test_both_methods_work_in_batch_unless_the_portal_refuses_imbot_there(sim):
    sim.add_events("acme", "queue_bot", count=2)
    sim.set_commands("acme", "queue_bot", ["help"])
    cmd = {
        "e": "imbot.v2.Event.get?botId=456&limit=1&botToken=tok",
        "c": "imbot.v2.Command.list?botId=456&botToken=tok",
    }
    body = call(sim, "batch", cmd=cmd).json()["result"]
    assert ids(body["result"]["e"]) == [1]
    assert [c["command"] for c in body["result"]["c"]["commands"]] == ["help"]
    assert set(body["result_time"]) == {"e", "c"}

    sim.add_portal("strict", batch_imbot=False)
    sim.add_bot("strict", code="queue_bot", bot_id=600, bot_token="tok")
    assert_error(call(sim, "batch", "strict", cmd={"e": "imbot.v2.Event.get?botId=600&botToken=tok"}),
                 "ERROR_BATCH_METHOD_NOT_ALLOWED", 405)  # fmt: skip
    assert_error(call(sim, "batch", "strict", cmd={"c": "imbot.v2.Command.list?botId=600&botToken=tok"}),
                 "ERROR_BATCH_METHOD_NOT_ALLOWED", 405)  # fmt: skip
    assert call(sim, "imbot.v2.Event.get", "strict", botId=600, botToken="tok").status_code == 200


def test_event_get_counts_against_its_own_operating_budget(clock):
    sim = Simulator(clock=clock, operating_limit=0.015)
    sim.start()
    try:
        sim.add_portal("acme", processing_s=0.01)
        sim.add_bot("acme", code="queue_bot", bot_id=456, bot_token="tok")
        for _ in range(2):
            assert call(sim, "imbot.v2.Event.get", botId=456, botToken="tok").status_code == 200
        assert_error(call(sim, "imbot.v2.Event.get", botId=456, botToken="tok"), "OPERATION_TIME_LIMIT", 429)
        assert call(sim, "imbot.v2.Bot.get", botId=456, botToken="tok").status_code == 200
    finally:
        sim.stop()


def test_command_list_shape(sim):
    assert call(sim, "imbot.v2.Command.list", botId=456, botToken="tok").json()["result"] == {"commands": []}
    sim.set_commands("acme", 456, ["help", {"command": "ticket", "title": "Open a ticket", "common": True}])
    commands = call(sim, "imbot.v2.Command.list", botId=456, botToken="tok").json()["result"]["commands"]
    assert [set(c) for c in commands] == [COMMAND_FIELDS, COMMAND_FIELDS]
    assert commands[0] == {
        "id": 1, "botId": 456, "command": "help", "title": "help", "params": "", "common": False, "hidden": False,
        "extranetSupport": False, "category": "", "context": "",
    }  # fmt: skip
    assert commands[1]["id"] == 2 and commands[1]["title"] == "Open a ticket" and commands[1]["common"] is True
    bot = call(sim, "imbot.v2.Bot.get", botId=456, botToken="tok").json()["result"]["bot"]
    assert bot["countCommand"] == 2


@pytest.mark.parametrize("method", ["imbot.v2.Event.get", "imbot.v2.Command.list"])
@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"botToken": "tok"}, "BOT_ID_REQUIRED"),
        ({"code": "queue_bot", "botToken": "tok"}, "BOT_ID_REQUIRED"),
        ({"botId": "", "botToken": "tok"}, "BOT_ID_REQUIRED"),
        ({"botId": 999, "botToken": "tok"}, "BOT_NOT_FOUND"),
        ({"botId": 456, "botToken": "tok2"}, "BOT_OWNERSHIP_ERROR"),
        ({"botId": 456}, "BOT_TOKEN_NOT_SPECIFIED"),
    ],
)
def test_owner_only_errors(sim, method, params, code):
    resp = call(sim, method, **params)
    assert_error(resp, code)
    assert set(resp.json()) == {"error", "error_description"}


@pytest.mark.parametrize("method", ["imbot.v2.Event.get", "imbot.v2.Command.list"])
def test_a_rotated_token_loses_the_owner_only_methods(sim, method):
    sim.rotate_bot_token("acme", "queue_bot", "fresh")
    assert_error(call(sim, method, botId=456, botToken="tok"), "BOT_OWNERSHIP_ERROR")
    assert call(sim, method, botId=456, botToken="fresh").status_code == 200


def test_oauth_owner_and_other_apps(clock):
    sim = Simulator(clock=clock)
    sim.start()
    try:
        sim.add_portal("umbrella", webhook_code=None)
        mine = sim.add_oauth_app("umbrella", client_id="local.mine", client_secret="s1")
        other = sim.add_oauth_app("umbrella", client_id="local.other", client_secret="s2")
        sim.add_bot("umbrella", code="app_bot", bot_id=700, app_client_id="local.mine")
        sim.add_events("umbrella", "app_bot", count=1)
        url = f"{sim.portal_url('umbrella')}/rest/imbot.v2.Event.get"
        resp = requests.post(url, json={"auth": mine["access_token"], "botId": 700, "limit": 1}, timeout=5)
        assert ids(resp.json()["result"]) == [1]
        resp = requests.post(url, json={"auth": other["access_token"], "botId": 700}, timeout=5)
        assert_error(resp, "BOT_OWNERSHIP_ERROR")
        assert sim.stats("umbrella")["event_get_params"] == [["auth", "botId", "limit"], ["auth", "botId"]]
    finally:
        sim.stop()


def test_bot_get_users_carry_the_active_flag(sim):
    def user():
        return call(sim, "imbot.v2.Bot.get", botId=456, botToken="tok").json()["result"]["users"][0]

    assert user()["active"] is True
    sim.set_bot_user_active("acme", "queue_bot", False)
    assert user() == {"id": 456, "active": False, "name": "Queue Bot", "bot": True, "type": "bot"}
    assert call(sim, "imbot.v2.Bot.get", botId=456, botToken="tok").json()["result"]["bot"]["countMessage"] >= 0
    sim.set_bot_user_active("acme", 456, True)
    assert user()["active"] is True


def bot_fields(sim, portal: str, token: str) -> dict:
    return call(sim, "imbot.v2.Bot.get", portal, botId=456, botToken=token).json()["result"]["bot"]


def test_rotated_token_on_bot_get_is_brief_by_default_and_an_error_when_the_portal_says_so(sim):
    sim.rotate_bot_token("acme", "queue_bot", "fresh")
    assert "countMessage" not in bot_fields(sim, "acme", "tok")

    sim.add_portal("strict", ownership_error_on_get=True)
    sim.add_bot("strict", code="queue_bot", bot_id=456, bot_token="tok")
    sim.rotate_bot_token("strict", "queue_bot", "fresh")
    assert_error(call(sim, "imbot.v2.Bot.get", "strict", botId=456, botToken="tok"), "BOT_OWNERSHIP_ERROR")
    batch = call(sim, "batch", "strict", cmd={"b": "imbot.v2.Bot.get?botId=456&botToken=tok"}).json()["result"]
    assert batch["result_error"]["b"]["error"] == "BOT_OWNERSHIP_ERROR"
    # A token that never was the bot's still gets the brief format; the new one the extended.
    assert "countMessage" not in bot_fields(sim, "strict", "nope")
    assert "countMessage" in bot_fields(sim, "strict", "fresh")
    assert sim.state()["portals"]["strict"]["ownership_error_on_get"] is True
