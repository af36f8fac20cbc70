"""The health control actions over HTTP (SimulatorControl -> /_control/...): each one's effect, and its 400
message naming the bad argument."""

from datetime import datetime

import pytest
import requests

from simulator.control import POST_ACTIONS
from simulator.server import SimulatorControl, SimulatorError

HEALTH_ACTIONS = {"add_events", "set_oldest_event_age", "clear_events", "set_bot_user_active", "set_commands",
                  "update_bot", "reregister_bot"}  # fmt: skip


@pytest.fixture
def control(simulator) -> SimulatorControl:
    ctl = SimulatorControl(simulator.base_url)
    ctl.add_portal("acme", webhook_user_id=1, webhook_code="k3y")
    ctl.add_bot("acme", code="queue_bot", bot_id=456, bot_token="tok")
    return ctl


def call(control, method: str, portal: str = "acme", **params) -> dict:
    resp = requests.post(f"{control.portal_url(portal)}/rest/1/k3y/{method}", json=params, timeout=5)
    return resp.json()


def peek(control, bot_id: int = 456, token: str = "tok") -> dict:  # noqa: S107
    return call(control, "imbot.v2.Event.get", botId=bot_id, botToken=token, limit=1000)["result"]


def bot_get(control, **params) -> dict:
    return call(control, "imbot.v2.Bot.get", **params)


def test_every_health_action_is_a_control_action_with_a_client_method():
    assert HEALTH_ACTIONS <= POST_ACTIONS
    assert all(callable(getattr(SimulatorControl, name, None)) for name in HEALTH_ACTIONS)


def test_add_events_set_oldest_age_and_clear(control):
    added = control.add_events("acme", "queue_bot", count=3, age_s=7200, type="ONIMBOTV2COMMANDADD")
    assert added == {"event_ids": [1, 2, 3], "pending": 3}
    assert control.add_events("acme", 456) == {"event_ids": [4], "pending": 4}
    events = peek(control)["events"]
    assert [e["type"] for e in events] == ["ONIMBOTV2COMMANDADD"] * 3 + ["ONIMBOTV2MESSAGEADD"]

    assert control.set_oldest_event_age("acme", "queue_bot", 3600) == {"pending": 4}
    answer = call(control, "imbot.v2.Event.get", botId=456, botToken="tok", limit=1)
    oldest = answer["result"]["events"][0]["date"]
    assert answer["time"]["start"] - datetime.fromisoformat(oldest).timestamp() == pytest.approx(3600, abs=2)

    assert control.clear_events("acme", "queue_bot") == 4
    assert peek(control) == {"events": [], "nextOffset": 0, "hasMore": False}


def test_set_bot_user_active(control):
    control.set_bot_user_active("acme", "queue_bot", False)
    assert bot_get(control, botId=456, botToken="tok")["result"]["users"][0]["active"] is False
    assert control.state()["portals"]["acme"]["bots"][0]["user_active"] is False


def test_set_commands_and_command_list(control):
    made = control.set_commands("acme", "queue_bot", ["help", {"command": "ticket", "hidden": True}])
    assert [(c["command"], c["hidden"], c["botId"]) for c in made] == [("help", False, 456), ("ticket", True, 456)]
    listed = call(control, "imbot.v2.Command.list", botId=456, botToken="tok")["result"]["commands"]
    assert listed == made
    assert control.state()["portals"]["acme"]["bots"][0]["commands"] == ["help", "ticket"]
    assert control.set_commands("acme", "queue_bot", []) == []


def test_update_bot_changes_the_config_bot_get_shows(control):
    fields = {"eventMode": "webhook", "language": "de", "isHidden": True, "backgroundId": "sky", "type": "personal",
              "isSupportOpenline": True, "isReactionsEnabled": False}  # fmt: skip
    extended = control.update_bot("acme", "queue_bot", fields)
    assert {k: extended[k] for k in fields} == fields
    bot = bot_get(control, botId=456, botToken="tok")["result"]["bot"]
    assert {k: bot[k] for k in fields} == fields
    brief = bot_get(control, botId=456, botToken="someone_else")["result"]["bot"]
    assert "eventMode" not in brief and brief["language"] == "de"


def test_reregister_bot_gives_a_new_id_and_the_old_one_is_not_found(control):
    control.add_events("acme", "queue_bot", count=2)
    control.set_commands("acme", "queue_bot", ["help"])
    control.update_bot("acme", "queue_bot", {"language": "de"})
    control.set_bot_user_active("acme", "queue_bot", False)
    new = control.reregister_bot("acme", "queue_bot")
    assert new["old_id"] == 456 and new["id"] == 457
    assert new["counters"] == {"countMessage": 0, "countCommand": 0, "countChat": 0, "countUser": 0}
    assert new["events"] == 0 and new["commands"] == [] and new["user_active"] is True
    assert bot_get(control, botId=456, botToken="tok")["error"] == "BOT_NOT_FOUND"
    by_code = bot_get(control, code="queue_bot", botToken="tok")["result"]
    assert by_code["bot"]["id"] == 457 and by_code["bot"]["language"] == "de" and "countMessage" in by_code["bot"]
    assert peek(control, 457)["events"] == []

    again = control.reregister_bot("acme", 457, new_id=900, keep_commands=True)
    assert again["id"] == 900 and again["commands"] == []  # 457 had none
    control.set_commands("acme", 900, ["help"])
    kept = control.reregister_bot("acme", "queue_bot", keep_commands=True)
    listed = call(control, "imbot.v2.Command.list", botId=kept["id"], botToken="tok")["result"]["commands"]
    assert [(c["command"], c["botId"]) for c in listed] == [("help", kept["id"])]


def test_rotate_bot_token_records_the_retired_token(control):
    control.add_portal("strict", webhook_user_id=1, webhook_code="k3y", ownership_error_on_get=True)
    control.add_bot("strict", code="queue_bot", bot_id=456, bot_token="tok")
    control.rotate_bot_token("strict", "queue_bot", "fresh")
    assert call(control, "imbot.v2.Bot.get", "strict", botId=456, botToken="tok")["error"] == "BOT_OWNERSHIP_ERROR"
    control.rotate_bot_token("acme", "queue_bot", "fresh")
    assert "countMessage" not in bot_get(control, botId=456, botToken="tok")["result"]["bot"]


BAD_CALLS = [
    ("add_events", {"bot": "queue_bot", "count": 0}, "add_events: count must be a positive integer"),
    ("add_events", {"bot": "queue_bot", "count": "3"}, "add_events: wrong type for count"),
    ("add_events", {"bot": "queue_bot", "age_s": -1}, "age_s must be a non-negative number"),
    ("add_events", {"bot": "queue_bot", "type": "ONIMBOTV2NOPE"}, "type must be one of ONIMBOTV2COMMANDADD"),
    ("add_events", {"bot": "nobody"}, "add_events: unknown bot 'nobody' on portal 'acme'"),
    ("add_events", {"bot": "queue_bot", "cnt": 2}, "add_events: unknown argument.*cnt"),
    ("set_oldest_event_age", {"bot": "queue_bot", "age_s": 60}, "bot 'queue_bot' has no pending events"),
    ("set_oldest_event_age", {"bot": "queue_bot", "age_s": "old"}, "wrong type for age_s"),
    ("set_oldest_event_age", {"bot": "queue_bot"}, "missing a required argument: 'age_s'"),
    ("clear_events", {"bot": 999}, "clear_events: unknown bot 999"),
    ("set_bot_user_active", {"bot": "queue_bot", "active": "no"}, "set_bot_user_active: wrong type for active"),
    ("set_bot_user_active", {"bot": "queue_bot"}, "missing a required argument: 'active'"),
    ("set_commands", {"bot": "queue_bot", "commands": "help"}, "set_commands: wrong type for commands"),
    ("set_commands", {"bot": "queue_bot", "commands": [""]}, r"commands\[0\]: a non-empty command name"),
    ("set_commands", {"bot": "queue_bot", "commands": ["a", "a"]}, "command 'a' is listed twice"),
    ("set_commands", {"bot": "queue_bot", "commands": [{"command": "a", "colour": 1}]}, r"unknown key\(s\) colour"),
    ("set_commands", {"bot": "queue_bot", "commands": [{"command": "a", "hidden": "Y"}]}, "hidden: must be true"),
    ("update_bot", {"bot": "queue_bot", "fields": {"eventMode": "push"}}, "eventMode: must be webhook or fetch"),
    ("update_bot", {"bot": "queue_bot", "fields": {"type": "robot"}}, "type: must be one of bot, network"),
    ("update_bot", {"bot": "queue_bot", "fields": {"isHidden": "Y"}}, "isHidden: must be true or false"),
    ("update_bot", {"bot": "queue_bot", "fields": {"language": ""}}, "language: must be a non-empty string"),
    ("update_bot", {"bot": "queue_bot", "fields": {"colour": "red"}}, "unknown field 'colour'"),
    ("update_bot", {"bot": "queue_bot", "fields": ["language"]}, "update_bot: wrong type for fields"),
    ("reregister_bot", {"bot": "queue_bot", "new_id": 456}, "bot id 456 is already taken"),
    ("reregister_bot", {"bot": "queue_bot", "new_id": 0}, "new_id must be a positive integer"),
    ("reregister_bot", {"bot": "queue_bot", "keep_commands": "yes"}, "wrong type for keep_commands"),
    ("add_portal", {"name": "lab", "ownership_error_on_get": "yes"}, "wrong type for ownership_error_on_get"),
]


@pytest.mark.parametrize(("action", "kwargs", "message"), BAD_CALLS)
def test_bad_arguments_answer_400_naming_them(control, action, kwargs, message):
    if action != "add_portal":
        kwargs = {"portal": "acme", **kwargs}
    resp = requests.post(f"{control.base_url}/_control/{action}", json=kwargs, timeout=5)
    assert resp.status_code == 400
    with pytest.raises(SimulatorError, match=message):
        control._post(action, **kwargs)


def test_unknown_portal_is_named(control):
    with pytest.raises(SimulatorError, match="unknown portal 'nowhere'"):
        control.add_events("nowhere", "queue_bot")
