"""The simulator as `manage.py bitrix24_simulator`: scenarios, the portal file, the control API over HTTP."""

import subprocess

import pytest
import requests
import yaml

from simulator.scenario import ScenarioError, load_scenario_file, validate_scenario
from simulator.server import SimulatorError
from tests.fixtures.simulator import DEMO_SCENARIO, ROOT, simulator_command, stop_process


def bot_get(url: str, auth: dict, **params) -> requests.Response:
    if "webhook" in auth:
        endpoint = f"{url}/rest/{auth['webhook']['user_id']}/{auth['webhook']['code']}/imbot.v2.Bot.get"
        return requests.post(endpoint, json=params, timeout=10)
    return requests.post(
        f"{url}/rest/imbot.v2.Bot.get", json={"auth": access_token(auth["oauth"]), **params}, timeout=10
    )


def access_token(oauth: dict) -> str:
    """The file's access token, or (a brokered portal) the one its app's broker lends, as BotWatch gets it."""
    if "broker_url" not in oauth:
        return oauth["access_token"]
    headers = {"Authorization": f"Bearer {oauth['broker_secret']}"}
    return requests.get(oauth["broker_url"], headers=headers, timeout=10).json()["access_token"]


def check_portal_file_bot(portal: dict, bot: dict) -> requests.Response:
    params = {"code": bot["code"]} if "code" in bot else {"botId": bot["id"]}
    if "bot_token" in bot:
        params["botToken"] = bot["bot_token"]
    return bot_get(portal["url"], portal, **params)


def test_command_serves_the_demo_and_its_portal_file(simulator_process):
    portal_file = yaml.safe_load(simulator_process.portal_file.read_text())
    portals = {p["name"]: p for p in portal_file["portals"]}
    assert sum(len(p["bots"]) for p in portals.values()) == 27  # 22 before the answer probe's portal (stark)
    assert "webhook" in portals["acme"] and "oauth" in portals["umbrella"]
    assert simulator_process.portal_file.stat().st_mode & 0o777 == 0o600
    token_file = simulator_process.portal_file.with_name(simulator_process.portal_file.name + ".tokens.json")
    assert token_file.stat().st_mode & 0o777 == 0o600

    simulator_process.clear_faults("hooli")
    outcomes = {}
    for portal in portals.values():
        if portal["name"] in ("initech", "vandelay"):
            continue  # rate-limited, and down, on purpose
        for bot in portal["bots"]:
            body = check_portal_file_bot(portal, bot).json()
            key = bot.get("code") or str(bot["id"])
            outcomes[key] = body.get("error") or ("ok" if "countMessage" in body["result"]["bot"] else "brief")
    assert outcomes.pop("onboarding_bot") == "BOT_NOT_FOUND"
    assert outcomes.pop("legacy_bot") == "brief"
    assert set(outcomes.values()) == {"ok"}
    assert outcomes.keys() >= {"support_bot", "912", "assistant_bot", "crm_bot", "butler_bot"}


def test_demo_rate_limited_portal_refuses_most_calls(simulator_process):
    portal = next(
        p for p in yaml.safe_load(simulator_process.portal_file.read_text())["portals"] if p["name"] == "initech"
    )
    statuses = [check_portal_file_bot(portal, portal["bots"][0]).status_code for _ in range(10)]
    assert statuses.count(503) >= 5
    assert simulator_process.stats("initech")["rate_limited"] + simulator_process.stats("initech")[
        "faults_fired"
    ] == statuses.count(503)


def test_control_api_drives_the_subprocess(simulator_process):
    control = simulator_process
    control.add_portal("lab", webhook_user_id=5, webhook_code="c0de")
    created = control.add_bot("lab", code="lab_bot", bot_token="lab_tok")
    url = control.portal_url("lab")
    auth = {"webhook": {"user_id": 5, "code": "c0de"}}
    assert bot_get(url, auth, botId=created["id"], botToken="lab_tok").json()["result"]["bot"]["code"] == "lab_bot"

    control.inject_fault("lab", "PORTAL_DELETED", times=1)
    assert bot_get(url, auth, code="lab_bot", botToken="lab_tok").status_code == 500
    control.rotate_bot_token("lab", "lab_bot", "new_tok")
    assert "countMessage" not in bot_get(url, auth, code="lab_bot", botToken="lab_tok").json()["result"]["bot"]
    control.remove_bot("lab", "lab_bot")
    assert bot_get(url, auth, code="lab_bot", botToken="new_tok").json()["error"] == "BOT_NOT_FOUND"

    stats = control.stats("lab")
    assert stats["requests"] == 4 and stats["by_http_status"] == {"200": 2, "400": 1, "500": 1}
    control.reset_stats()
    assert control.stats("lab")["requests"] == 0
    assert "lab" in control.state()["portals"]


def test_control_api_oauth_lifecycle(simulator_process):
    control = simulator_process
    control.add_portal("apps", webhook_code=None)
    tokens = control.add_oauth_app("apps", client_id="local.x", client_secret="sec")
    control.add_bot("apps", code="app_bot", app_client_id="local.x")
    control.expire_access_tokens("apps")
    auth = {"oauth": tokens}
    assert bot_get(control.portal_url("apps"), auth, code="app_bot").json()["error"] == "expired_token"
    params = {"grant_type": "refresh_token", "client_id": "local.x", "client_secret": "sec"}
    fresh = requests.post(control.oauth_url, data={**params, "refresh_token": tokens["refresh_token"]}, timeout=10)
    assert fresh.status_code == 200
    assert bot_get(control.portal_url("apps"), {"oauth": fresh.json()}, code="app_bot").status_code == 200
    control.rename_portal("apps", "apps2")
    moved = requests.post(f"{control.portal_url('apps')}/rest/imbot.v2.Revision.get", allow_redirects=False, timeout=10)
    assert moved.status_code == 302 and moved.headers["Location"].startswith(control.portal_url("apps2"))
    control.uninstall_app("apps2", "local.x")
    assert bot_get(control.portal_url("apps2"), {"oauth": fresh.json()}, code="app_bot").json()["error"] == (
        "invalid_token"
    )


BAD_CONTROL_CALLS = [
    ("add_bot", {"portal": "nowhere", "code": "x", "bot_token": "t"}, "unknown portal 'nowhere'"),
    ("add_bot", {"portal": "acme", "code": "x"}, "exactly one of bot_token"),
    ("add_portal", {"name": "acme"}, "already exists"),
    ("add_portal", {"nme": "typo"}, "unknown argument.*nme"),
    ("rename_portal", {"old": "acme"}, "missing a required argument: 'new'"),
    ("add_portal", {"name": "lab2", "burst": "lots"}, "wrong type for burst"),
    ("inject_fault", {"portal": "acme", "kind": "MEH"}, "unknown fault kind"),
]


def test_control_api_names_bad_arguments(simulator_process):
    for action, kwargs, message in BAD_CONTROL_CALLS:
        with pytest.raises(SimulatorError, match=message):
            simulator_process._post(action, **kwargs)


def test_control_api_raw_http_errors(simulator_process):
    base = simulator_process.base_url
    resp = requests.post(f"{base}/_control/add_portal", data="not json", timeout=10)
    assert resp.status_code == 400 and "JSON" in resp.json()["error"]
    assert requests.post(f"{base}/_control/self_destruct", json={}, timeout=10).status_code == 404


def test_command_stops_cleanly_on_sigterm(simulator_process):
    assert stop_process(simulator_process.process) == 0


def test_bad_scenario_file_exits_2_naming_the_place(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "portals:\n"
        "  - name: ok\n    webhook: {user_id: 1, code: x}\n"
        "  - name: broken\n    webhook: {user_id: 1, code: x}\n    bots:\n      - {token: t}\n"
        "      - {code: b, token: t, app: local.nope}\n"
    )
    result = subprocess.run(simulator_command(bad), cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "portals[1].bots[0]: code or id is required" in result.stderr
    assert "portals[1].bots[1]: exactly one of token" in result.stderr


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("portals: 3\n", "portals: a list of portals is required"),
        ("portals:\n  - name: a\n", "portals[0]: needs a webhook or at least one app"),
        ("portals:\n  - {name: a, webhook: {user_id: 1}}\n", "portals[0].webhook: needs user_id"),
        ("portals:\n  - {name: a, webhook: {user_id: 1, code: c}, burst: -1}\n", "portals[0].burst"),
        ("portals:\n  - {name: a, webhook: {user_id: 1, code: c}}\n  - {name: a, webhook: {user_id: 1, code: c}}\n",
         "portals[1].name: portal 'a' is listed twice"),
        ("portals:\n  - {name: a, webhook: {user_id: 1, code: c}, faults: [{kind: BOOM}]}\n",
         "portals[0].faults[0].kind"),
        ("portals:\n  - {name: a, webhook: {user_id: 1, code: c}, expected_missing: [{code: z}]}\n",
         "portals[0].expected_missing[0]: token is required"),
        ("portals:\n  - {name: a, apps: [{client_id: x, client_secret: y}], bots: [{code: b, app: z}]}\n",
         "portals[0].bots[0].app"),
        ("portals: [\n", "not valid YAML"),
    ],
)  # fmt: skip
def test_scenario_problems_are_named(tmp_path, text, problem):
    path = tmp_path / "s.yaml"
    path.write_text(text)
    with pytest.raises(ScenarioError) as info:
        load_scenario_file(path)
    assert any(problem in p for p in info.value.problems), info.value.problems


def test_demo_scenario_is_valid_and_loads_in_process(simulator):
    portal_file = simulator.load_scenario(load_scenario_file(DEMO_SCENARIO))
    assert [p["name"] for p in portal_file["portals"]] == [
        "acme",
        "globex",
        "initech",
        "hooli",
        "umbrella",
        "wayne",
        "vandelay",
        "stark",
    ]
    assert validate_scenario({"portals": []}) == {"defaults": {}, "portals": []}
