"""The simulator's im.message.add over HTTP: what a webhook posts into a chat is kept for tests to read."""

import pytest
import requests


@pytest.fixture
def team(simulator):
    simulator.add_portal("team", webhook_user_id=7, webhook_code="t3am-hook")
    return simulator


def post(sim, body: dict, code: str = "t3am-hook") -> requests.Response:
    return requests.post(f"{sim.portal_url('team')}/rest/7/{code}/im.message.add.json", json=body, timeout=5)


def test_a_message_into_a_chat_is_answered_with_its_id_and_kept(team):
    first = post(team, {"DIALOG_ID": "chat42", "MESSAGE": "[b]BOT_NOT_FOUND[/b] support_bot on acme"})
    second = post(team, {"DIALOG_ID": "5", "MESSAGE": "to a person", "SYSTEM": "Y"})

    assert first.status_code == 200 and first.json()["result"] == 1
    assert second.json()["result"] == 2
    assert team.messages("team") == [
        {"id": 1, "dialog_id": "chat42", "message": "[b]BOT_NOT_FOUND[/b] support_bot on acme", "system": False},
        {"id": 2, "dialog_id": "5", "message": "to a person", "system": True},
    ]
    assert team.state()["portals"]["team"]["messages"][0]["dialog_id"] == "chat42"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"MESSAGE": "no dialog"}, "USER_ID_EMPTY"),
        ({"DIALOG_ID": "chat", "MESSAGE": "no chat number"}, "CHAT_ID_EMPTY"),
        ({"DIALOG_ID": "chat42"}, "MESSAGE_EMPTY"),
    ],
)
def test_missing_parameters_get_the_documented_errors(team, body, code):
    resp = post(team, body)
    assert resp.status_code == 400
    assert resp.json()["error"] == code
    assert team.messages("team") == []


def test_a_wrong_webhook_code_posts_nothing(team):
    resp = post(team, {"DIALOG_ID": "chat42", "MESSAGE": "hi"}, code="wrong")
    assert resp.status_code == 401 and resp.json()["error"] == "NO_AUTH_FOUND"
    assert team.messages("team") == []


def test_an_injected_access_error_answers_for_the_method(team):
    team.inject_fault("team", "custom", method="im.message.add", code="ACCESS_ERROR", http_status=403, times=1)
    resp = post(team, {"DIALOG_ID": "chat42", "MESSAGE": "hi"})
    assert resp.status_code == 403 and resp.json()["error"] == "ACCESS_ERROR"
    assert post(team, {"DIALOG_ID": "chat42", "MESSAGE": "hi"}).status_code == 200
    assert [m["message"] for m in team.messages("team")] == ["hi"]


def test_the_control_api_reads_the_messages(simulator_process):
    simulator_process.add_portal("team", webhook_user_id=7, webhook_code="t3am-hook")
    post(simulator_process, {"DIALOG_ID": "chat42", "MESSAGE": "over the control API"})
    assert [m["message"] for m in simulator_process.messages("team")] == ["over the control API"]
