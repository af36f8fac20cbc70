"""Scenario keys for installed-but-broken bots, the portal file entries they produce, and the demo's such bots."""

from datetime import datetime

import pytest
import requests
import yaml

from simulator import scenario as scenario_module
from simulator.scenario import ScenarioError, validate_scenario

SCENARIO = {
    "portals": [
        {
            "name": "acme",
            "webhook": {"user_id": 1, "code": "k3y"},
            "ownership_error_on_get": True,
            "bots": [
                {"code": "queue_bot", "id": 456, "token": "tok", "event_mode": "fetch",
                 "events": {"count": 4, "age_s": 1800}, "backlog_minutes": 20},
                {"code": "help_bot", "token": "tok2", "commands": ["help", {"command": "start", "hidden": True}],
                 "user_active": False, "expect": {"commands": ["help", "ticket"], "language": "de"}},
                {"code": "moved_bot", "id": 500, "token": "tok3", "reregistered": True, "fields": {"language": "de"},
                 "commands": ["help"]},
                {"code": "push_bot", "token": "tok4", "event_mode": "webhook", "expect": {"eventMode": "fetch"}},
                {"code": "old_bot", "token": "tok5", "rotated_token": "tok5b"},
            ],
        }
    ]
}  # fmt: skip


def call(sim, method: str, portal: str = "acme", webhook: tuple = (1, "k3y"), **params) -> dict:
    url = f"{sim.portal_url(portal)}/rest/{webhook[0]}/{webhook[1]}/{method}"
    return requests.post(url, json=params, timeout=5).json()


def test_scenario_keys_shape_the_bots(simulator):
    simulator.load_scenario(SCENARIO)
    queue = call(simulator, "imbot.v2.Event.get", botId=456, botToken="tok")["result"]
    assert [e["eventId"] for e in queue["events"]] == [1, 2, 3, 4]
    oldest = datetime.fromisoformat(queue["events"][0]["date"]).timestamp()
    assert simulator.clock() - oldest == pytest.approx(1800, abs=5)

    bots = {b["code"]: b for b in simulator.state()["portals"]["acme"]["bots"]}
    assert bots["help_bot"]["user_active"] is False and bots["help_bot"]["commands"] == ["help", "start"]
    assert bots["push_bot"]["event_mode"] == "webhook" and bots["queue_bot"]["event_mode"] == "fetch"
    moved = bots["moved_bot"]
    assert moved["id"] != 500 and moved["language"] == "de" and moved["commands"] == ["help"]
    assert call(simulator, "imbot.v2.Bot.get", botId=500, botToken="tok3")["error"] == "BOT_NOT_FOUND"
    assert call(simulator, "imbot.v2.Bot.get", code="moved_bot", botToken="tok3")["result"]["bot"]["id"] == moved["id"]
    assert call(simulator, "imbot.v2.Bot.get", code="old_bot", botToken="tok5")["error"] == "BOT_OWNERSHIP_ERROR"


def test_portal_file_entries_copy_expect_and_backlog_and_keep_the_old_id(simulator):
    entry = simulator.load_scenario(SCENARIO)["portals"][0]
    assert entry["bots"] == [
        {"code": "queue_bot", "bot_token": "tok", "backlog_minutes": 20},
        {"code": "help_bot", "bot_token": "tok2", "expect": {"commands": ["help", "ticket"], "language": "de"}},
        {"code": "moved_bot", "id": 500, "bot_token": "tok3"},
        {"code": "push_bot", "bot_token": "tok4", "expect": {"eventMode": "fetch"}},
        {"code": "old_bot", "bot_token": "tok5"},
    ]
    assert "ownership_error_on_get" not in entry  # a simulator switch, not a BotWatch setting


def test_a_reregistered_bot_without_a_fixed_id_carries_its_first_id(simulator):
    bots = [{"code": "a", "token": "t"}, {"code": "b", "token": "t2", "reregistered": True}]
    scenario = {"portals": [{"name": "p", "webhook": {"user_id": 1, "code": "c"}, "bots": bots}]}
    entry = simulator.load_scenario(scenario)["portals"][0]
    assert entry["bots"][1] == {"code": "b", "id": 102, "bot_token": "t2"}
    assert [b["id"] for b in simulator.state()["portals"]["p"]["bots"]] == [101, 103]


def test_the_documented_example_is_a_valid_scenario(simulator):
    example = scenario_module.__doc__.split("```yaml\n", 1)[1].split("```", 1)[0]
    portal_file = simulator.load_scenario(yaml.safe_load(example))
    bots = portal_file["portals"][0]["bots"]
    assert {"code": "queue_bot", "bot_token": "tok3", "backlog_minutes": 15} in bots


BASE = "portals:\n  - name: a\n    webhook: {user_id: 1, code: c}\n"


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        ("    bots: [{code: b, token: t, event_mode: push}]\n", "bots[0].event_mode: must be webhook or fetch"),
        ("    bots: [{code: b, token: t, user_active: nope}]\n", "bots[0].user_active: must be true or false"),
        ("    bots: [{code: b, token: t, reregistered: 2}]\n", "bots[0].reregistered: must be true or false"),
        ("    bots: [{code: b, token: t, commands: help}]\n", "bots[0].commands: commands must be a list"),
        ("    bots: [{code: b, token: t, commands: ['']}]\n", "bots[0].commands: commands[0]: a non-empty command"),
        ("    bots: [{code: b, token: t, events: 40}]\n", "bots[0].events: a mapping of count"),
        ("    bots: [{code: b, token: t, events: {count: 4, age: 9}}]\n", "bots[0].events: a mapping of count"),
        ("    bots: [{code: b, token: t, events: {count: 0}}]\n", "bots[0].events: count must be a positive integer"),
        ("    bots: [{code: b, token: t, events: {count: 2, age_s: -5}}]\n", "bots[0].events: age_s must be"),
        ("    bots: [{code: b, token: t, fields: {eventMode: push}}]\n", "bots[0].fields: eventMode: must be"),
        ("    bots: [{code: b, token: t, fields: {colour: red}}]\n", "bots[0].fields: unknown field 'colour'"),
        ("    bots: [{code: b, token: t, backlog_minutes: 0}]\n", "bots[0].backlog_minutes: must be a positive"),
        ("    bots: [{code: b, token: t, backlog_minutes: '15'}]\n", "bots[0].backlog_minutes: must be a positive"),
        ("    bots: [{code: b, token: t, expect: [fetch]}]\n", "bots[0].expect: a mapping of config fields"),
        ("    bots: [{code: b, token: t, expect: {eventMode: push}}]\n", "bots[0].expect: eventMode: must be"),
        ("    bots: [{code: b, token: t, expect: {colour: red}}]\n", "bots[0].expect: unknown field 'colour'"),
        ("    bots: [{code: b, token: t, expect: {commands: help}}]\n", "bots[0].expect.commands: a list of command"),
        ("    bots: [{code: b, token: t, expects: {}}]\n", "bots[0].expects: unknown key"),
        ("    ownership_error_on_get: sometimes\n", "portals[0].ownership_error_on_get: must be true or false"),
    ],
)  # fmt: skip
def test_bad_health_keys_are_named(extra, problem):
    with pytest.raises(ScenarioError) as info:
        validate_scenario(yaml.safe_load(BASE + extra))
    assert any(problem in p for p in info.value.problems), info.value.problems
