"""What a portal probe reads, over HTTP: server.time, profile (a switched-off user answers empty) and app.info
(days left, PAYMENT_EXPIRED, INSTALLED, the plan), alone and in a batch; their control actions and scenario keys."""

from datetime import UTC, datetime

import pytest
import requests

from simulator.control import POST_ACTIONS
from simulator.scenario import ScenarioError, validate_scenario
from simulator.server import SimulatorControl, SimulatorError

PROBE_ACTIONS = {"set_webhook_user_active", "set_license", "set_app_info"}


@pytest.fixture
def control(simulator) -> SimulatorControl:
    ctl = SimulatorControl(simulator.base_url)
    ctl.add_portal("acme", webhook_user_id=7, webhook_code="k3y", license="de_ent250")
    ctl.add_oauth_app("acme", client_id="local.app1", client_secret="s3cret")
    return ctl


def hook(control, method: str, **params) -> dict:
    return requests.post(f"{control.portal_url('acme')}/rest/7/k3y/{method}", json=params, timeout=5).json()


def app(simulator, method: str, **params) -> dict:
    token = next(t["access_token"] for t in simulator.state()["tokens"] if t["client_id"] == "local.app1")
    url = f"{simulator.portal_url('acme')}/rest/{method}"
    return requests.post(url, json={**params, "auth": token}, timeout=5).json()


def test_every_probe_action_is_a_control_action_with_a_client_method():
    assert PROBE_ACTIONS <= POST_ACTIONS
    assert all(callable(getattr(SimulatorControl, name, None)) for name in PROBE_ACTIONS)


def test_server_time_is_the_portal_clock(control):
    answer = hook(control, "server.time")
    assert abs(datetime.fromisoformat(answer["result"]).timestamp() - datetime.now(UTC).timestamp()) < 5
    assert "time" in answer


def test_profile_of_a_switched_off_user_is_empty(control, simulator):
    assert hook(control, "profile")["result"]["ID"] == "7"
    assert app(simulator, "profile")["result"]["ADMIN"] is True
    control.set_webhook_user_active("acme", False)
    assert hook(control, "profile")["result"] == []  # PHP's empty array
    assert app(simulator, "profile")["result"] == []
    assert "result" in hook(control, "server.time")  # the other methods still answer
    control.set_webhook_user_active("acme", True)
    assert hook(control, "profile")["result"]["ID"] == "7"


def test_app_info_for_the_app_and_through_a_webhook(control, simulator):
    assert app(simulator, "app.info")["result"] == {
        "ID": "1", "CODE": "local.app1", "VERSION": 1, "STATUS": "L", "INSTALLED": True, "PAYMENT_EXPIRED": "N",
        "DAYS": None, "LANGUAGE_ID": "en", "LICENSE": "de_ent250", "LICENSE_TYPE": "ent", "LICENSE_FAMILY": "ent",
    }  # fmt: skip
    assert hook(control, "app.info")["result"] == {"SCOPE": ["imbot", "basic"], "LICENSE": "de_ent250"}
    control.set_license("acme", "en_basic")
    assert hook(control, "app.info")["result"]["LICENSE"] == "en_basic"


def test_days_left_payment_expired_and_installed(control, simulator):
    assert control.set_app_info("acme", "local.app1", days=5) == {
        "client_id": "local.app1", "status": "P", "installed": True, "days": 5,
    }  # fmt: skip
    info = app(simulator, "app.info")["result"]
    assert (info["DAYS"], info["PAYMENT_EXPIRED"], info["STATUS"]) == (5, "N", "P")
    control.set_app_info("acme", "local.app1", days=-2, installed=False)
    info = app(simulator, "app.info")["result"]
    assert (info["DAYS"], info["PAYMENT_EXPIRED"], info["INSTALLED"]) == (-2, "Y", False)


def test_the_probe_rides_in_one_batch(control, simulator):
    control.set_webhook_user_active("acme", False)
    cmd = {"time": "server.time", "me": "profile", "app": "app.info"}
    answer = hook(control, "batch", halt=0, cmd=cmd)["result"]
    assert set(answer["result"]) == {"time", "me", "app"} and answer["result_error"] == []
    assert answer["result"]["me"] == [] and answer["result"]["app"]["LICENSE"] == "de_ent250"
    assert simulator.stats("acme")["methods"] == {"batch": 1, "server.time": 1, "profile": 1, "app.info": 1}


@pytest.mark.parametrize(
    ("action", "kwargs", "message"),
    [
        ("set_app_info", {"client_id": "local.app1", "days": "5"}, "wrong type for days"),
        ("set_app_info", {"client_id": "local.app1", "status": "X"}, "status must be one of F, D, T, P, L, S"),
        ("set_app_info", {"client_id": "local.nope", "days": 3}, "app 'local.nope' is not installed"),
        ("set_license", {"license": " "}, "license must be a non-empty string"),
        ("set_webhook_user_active", {"active": "no"}, "wrong type for active"),
    ],
)
def test_bad_arguments_are_named(control, action, kwargs, message):
    with pytest.raises(SimulatorError, match=message):
        control._post(action, portal="acme", **kwargs)


def test_scenario_keys(simulator):
    simulator.load_scenario(
        {
            "portals": [
                {
                    "name": "acme",
                    "webhook": {"user_id": 7, "code": "k3y"},
                    "apps": [{"client_id": "local.app1", "client_secret": "s", "days": 6, "installed": False}],
                    "license": "de_ent250",
                    "webhook_user_active": False,
                }
            ]
        }
    )
    portal = simulator.state()["portals"]["acme"]
    assert (portal["license"], portal["user_active"]) == ("de_ent250", False)
    info = app(simulator, "app.info")["result"]
    assert (info["DAYS"], info["INSTALLED"], info["LICENSE"]) == (6, False, "de_ent250")


def test_bad_scenario_keys_are_named():
    portal = {
        "name": "acme",
        "webhook": {"user_id": 7, "code": "k3y"},
        "apps": [{"client_id": "a", "client_secret": "s", "days": 1.5, "paid": True}],
        "license": "",
        "webhook_user_active": "no",
    }
    with pytest.raises(ScenarioError) as caught:
        validate_scenario({"portals": [portal]})
    assert caught.value.problems == [
        "portals[0].apps[0].paid: unknown key "
        "(expected broker_secret, client_id, client_secret, days, installed, status)",
        "portals[0].apps[0]: days must be a whole number (negative: the paid period has ended)",
        "portals[0].webhook_user_active: must be true or false",
        "portals[0].license: a plan name such as en_ent250",
    ]
