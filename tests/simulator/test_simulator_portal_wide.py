"""Portal-wide trouble over HTTP: outages (every request 502, held past any timeout, or refused) while the other
portals and the OAuth server stay up, with their control action, its 400s and the scenario keys; and one bot
code removed from many portals at once (a fleet wave)."""

import socket
from urllib.parse import urlsplit

import pytest
import requests

from simulator.scenario import ScenarioError, validate_scenario
from simulator.server import SimulatorControl, SimulatorError


@pytest.fixture
def control(simulator) -> SimulatorControl:
    ctl = SimulatorControl(simulator.base_url)
    ctl.add_portal("acme", webhook_user_id=1, webhook_code="k3y", own_port=True)
    ctl.add_portal("globex", webhook_user_id=1, webhook_code="k3y")
    return ctl


def call(url: str, method: str = "server.time", timeout: float = 5) -> requests.Response:
    return requests.post(f"{url}/rest/1/k3y/{method}", json={}, timeout=timeout)


def test_a_portal_of_its_own_port_answers_there_and_on_the_shared_one(control, simulator):
    own = simulator.portal_url("acme")
    assert urlsplit(own).port != urlsplit(simulator.base_url).port
    assert control.portal_url("acme") == own
    assert call(own).status_code == 200
    assert call(f"{simulator.base_url}/acme").status_code == 200


def test_502_outage_answers_every_request_with_nginx_page(control, simulator):
    assert control.set_outage("acme", "502") == {"outage": "502", "own_port": urlsplit(control.portal_url("acme")).port}
    for method in ("server.time", "batch", "imbot.v2.Bot.get"):
        answer = call(simulator.portal_url("acme"), method)
        assert answer.status_code == 502 and "Bad Gateway" in answer.text
    assert call(simulator.portal_url("globex")).status_code == 200
    assert simulator.stats("acme")["outage_refused"] == 3
    control.set_outage("acme", None)
    assert call(simulator.portal_url("acme")).status_code == 200


def test_timeout_outage_holds_the_request(control, simulator):
    control.set_outage("acme", "timeout", sleep_s=3)
    with pytest.raises(requests.Timeout):
        call(simulator.portal_url("acme"), timeout=0.5)
    assert call(simulator.portal_url("globex")).status_code == 200


def test_refused_outage_closes_the_portal_port_and_reopens_the_same_one(control, simulator):
    url = simulator.portal_url("acme")
    port = urlsplit(url).port
    control.set_outage("acme", "refused")
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), timeout=2):
        pass
    with pytest.raises(requests.ConnectionError):  # and on the shared port, closed before any answer
        call(f"{simulator.base_url}/acme")
    control.set_outage("acme", None)
    assert simulator.portal_url("acme") == url
    assert call(url).status_code == 200


def test_refused_on_the_shared_port_closes_the_connection(control, simulator):
    control.set_outage("globex", "refused")
    with pytest.raises(requests.ConnectionError):
        call(simulator.portal_url("globex"))


def test_the_oauth_server_stays_up(simulator):
    simulator.add_portal("umbrella", webhook_code=None)
    tokens = simulator.add_oauth_app("umbrella", client_id="local.app1", client_secret="s3cret")
    simulator.set_outage("umbrella", "502")
    params = {"grant_type": "refresh_token", "client_id": "local.app1", "client_secret": "s3cret"}
    answer = requests.get(simulator.oauth_url, params={**params, "refresh_token": tokens["refresh_token"]}, timeout=5)
    assert answer.status_code == 200


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"kind": "503"}, "outage must be one of 502, timeout, refused"), ({"kind": "timeout", "sleep_s": -1}, "sleep_s")],
)
def test_bad_arguments_are_named(control, kwargs, message):
    with pytest.raises(SimulatorError, match=message):
        control._post("set_outage", portal="acme", **kwargs)


def test_scenario_keys(simulator):
    portal = {"name": "acme", "webhook": {"user_id": 1, "code": "k3y"}, "own_port": True, "outage": 502}
    file = simulator.load_scenario({"portals": [portal]})
    assert file["portals"][0]["url"] == simulator.portal_url("acme") != f"{simulator.base_url}/acme"
    assert call(simulator.portal_url("acme")).status_code == 502
    with pytest.raises(ScenarioError) as caught:
        validate_scenario({"portals": [{**portal, "outage": "down", "own_port": "yes"}]})
    assert caught.value.problems == [
        "portals[0].outage: one of 502, timeout, refused",
        "portals[0].own_port: must be true or false",
    ]


def test_remove_bot_code_takes_one_code_off_many_portals_at_once(control, simulator):
    for name in ("acme", "globex"):
        control.add_bot(name, code="support_bot", bot_token="tok")
        control.add_bot(name, code="sales_bot", bot_token="tok2")
    control.add_portal("initech", webhook_user_id=1, webhook_code="k3y")
    control.add_bot("initech", code="support_bot", bot_token="tok")
    assert control.remove_bot_code("support_bot", portals=["acme", "initech"]) == ["acme", "initech"]
    assert control.remove_bot_code("support_bot") == ["globex"]
    assert control.remove_bot_code("support_bot") == []
    for name in ("acme", "globex"):
        answer = requests.post(
            f"{simulator.base_url}/{name}/rest/1/k3y/imbot.v2.Bot.get",
            json={"code": "support_bot", "botToken": "tok"},
            timeout=5,
        )
        assert answer.json()["error"] == "BOT_NOT_FOUND"
        assert [b["code"] for b in simulator.state()["portals"][name]["bots"]] == ["sales_bot"]
    with pytest.raises(SimulatorError, match="unknown portal 'nope'"):
        control.remove_bot_code("sales_bot", portals=["acme", "nope"])
    assert [b["code"] for b in simulator.state()["portals"]["acme"]["bots"]] == ["sales_bot"]  # nothing removed
