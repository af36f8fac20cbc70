"""The Bitrix24 simulator over real HTTP: Bot.get formats and errors, OAuth, batch, limits, rename."""

import time

import pytest
import requests

BRIEF_FIELDS = {"id", "code", "type", "isHidden", "isSupportOpenline", "isReactionsEnabled", "backgroundId", "language"}
COUNTERS = {"countMessage", "countCommand", "countChat", "countUser"}
TIME_FIELDS = {
    "start",
    "finish",
    "duration",
    "processing",
    "date_start",
    "date_finish",
    "operating",
    "operating_reset_at",
}


@pytest.fixture
def acme(simulator):
    simulator.add_portal("acme", webhook_user_id=1, webhook_code="k3y")
    simulator.add_bot("acme", code="support_bot", bot_id=456, bot_token="tok", counters={"countMessage": 150})
    simulator.add_bot("acme", code="sales_bot", bot_id=457, bot_token="tok2")
    return simulator


def hook(sim, method: str, portal: str = "acme") -> str:
    return f"{sim.portal_url(portal)}/rest/1/k3y/{method}"


def bot_get(sim, portal: str = "acme", **params) -> requests.Response:
    return requests.post(hook(sim, "imbot.v2.Bot.get.json", portal), json=params, timeout=5)


def assert_error(resp: requests.Response, status: int, code: str) -> None:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert body["error"] == code
    assert set(body) == {"error", "error_description"}
    assert body["error_description"]


def test_owner_token_gets_extended_format_with_counters(acme):
    resp = bot_get(acme, code="support_bot", botToken="tok")
    assert resp.status_code == 200
    bot = resp.json()["result"]["bot"]
    assert bot["id"] == 456
    assert bot["moduleId"] == "rest"
    assert bot["eventMode"] == "fetch"
    assert set(bot) == BRIEF_FIELDS | COUNTERS | {"moduleId", "eventMode"}
    assert "appId" not in bot
    assert bot["countMessage"] > 150  # grows with use
    assert resp.json()["result"]["users"] == [
        {"id": 456, "active": True, "name": "Support Bot", "bot": True, "type": "bot"}
    ]
    assert set(resp.json()["time"]) == TIME_FIELDS


def test_counters_grow_between_calls(acme):
    first = bot_get(acme, code="support_bot", botToken="tok").json()["result"]["bot"]["countMessage"]
    second = bot_get(acme, code="support_bot", botToken="tok").json()["result"]["bot"]["countMessage"]
    assert second > first


def test_wrong_or_rotated_token_gets_brief_format(acme):
    resp = bot_get(acme, code="support_bot", botToken="not-the-token")
    assert resp.status_code == 200
    assert set(resp.json()["result"]["bot"]) == BRIEF_FIELDS

    acme.rotate_bot_token("acme", "support_bot", "fresh")
    assert set(bot_get(acme, code="support_bot", botToken="tok").json()["result"]["bot"]) == BRIEF_FIELDS
    assert "countMessage" in bot_get(acme, code="support_bot", botToken="fresh").json()["result"]["bot"]


def test_bot_id_wins_over_code_and_aliases_work(acme):
    resp = bot_get(acme, botId=457, code="support_bot", botToken="tok2")
    assert resp.json()["result"]["bot"]["code"] == "sales_bot"
    resp = bot_get(acme, BOT_ID="", CODE="support_bot", BOT_TOKEN="tok")
    assert resp.json()["result"]["bot"]["id"] == 456
    assert "countMessage" in resp.json()["result"]["bot"]


def test_form_encoded_and_query_parameters_are_accepted(acme):
    url = hook(acme, "imbot.v2.Bot.get")
    resp = requests.post(url, data={"code": "support_bot", "botToken": "tok"}, timeout=5)
    assert resp.json()["result"]["bot"]["id"] == 456
    resp = requests.post(url + "?code=sales_bot&botToken=tok2", timeout=5)
    assert resp.json()["result"]["bot"]["id"] == 457


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({"code": "support_bot"}, 400, "BOT_TOKEN_NOT_SPECIFIED"),
        ({"code": "support_bot", "botToken": ""}, 400, "BOT_TOKEN_NOT_SPECIFIED"),
        ({"botToken": "tok"}, 400, "PARAMS_REQUIRED"),
        ({"botId": "", "code": "", "botToken": "tok"}, 400, "PARAMS_REQUIRED"),
        ({"code": "no_such_bot", "botToken": "tok"}, 400, "BOT_NOT_FOUND"),
        ({"botId": 999, "code": "support_bot", "botToken": "tok"}, 400, "BOT_NOT_FOUND"),
    ],
)
def test_bot_get_method_errors(acme, params, status, code):
    assert_error(bot_get(acme, **params), status, code)


def test_wrong_webhook_and_unknown_method(acme):
    url = f"{acme.portal_url('acme')}/rest/1/wrong/imbot.v2.Bot.get"
    assert_error(requests.post(url, json={"code": "support_bot", "botToken": "tok"}, timeout=5), 401, "NO_AUTH_FOUND")
    url = f"{acme.portal_url('acme')}/rest/2/k3y/imbot.v2.Bot.get"
    assert_error(requests.post(url, json={"code": "support_bot", "botToken": "tok"}, timeout=5), 401, "NO_AUTH_FOUND")
    assert_error(requests.post(hook(acme, "imbot.v2.Nope.get"), json={}, timeout=5), 404, "ERROR_METHOD_NOT_FOUND")


def test_removed_bot_is_not_found_and_revision_answers(acme):
    acme.remove_bot("acme", 456)
    assert_error(bot_get(acme, code="support_bot", botToken="tok"), 400, "BOT_NOT_FOUND")
    resp = requests.post(hook(acme, "imbot.v2.Revision.get"), json={}, timeout=5)
    assert resp.json()["result"]["rest"] == 36


@pytest.fixture
def oauth_portal(simulator):
    simulator.add_portal("umbrella", webhook_code=None)
    tokens = simulator.add_oauth_app("umbrella", client_id="local.app1", client_secret="s3cret")
    simulator.add_bot("umbrella", code="assistant_bot", app_client_id="local.app1")
    simulator.add_bot("umbrella", code="other_bot", bot_token="someone_elses")
    return simulator, tokens


def oauth_get(sim, access_token: str, **params) -> requests.Response:
    url = f"{sim.portal_url('umbrella')}/rest/imbot.v2.Bot.get.json"
    return requests.post(url, json={"auth": access_token, **params}, timeout=5)


def refresh(sim, refresh_token: str, secret: str = "s3cret") -> requests.Response:  # noqa: S107
    params = {"grant_type": "refresh_token", "client_id": "local.app1", "client_secret": secret}
    return requests.get(sim.oauth_url, params={**params, "refresh_token": refresh_token}, timeout=5)


def test_oauth_app_owns_its_bot_and_not_others(oauth_portal):
    sim, tokens = oauth_portal
    assert "countMessage" in oauth_get(sim, tokens["access_token"], code="assistant_bot").json()["result"]["bot"]
    assert set(oauth_get(sim, tokens["access_token"], code="other_bot").json()["result"]["bot"]) == BRIEF_FIELDS
    query_url = f"{sim.portal_url('umbrella')}/rest/imbot.v2.Bot.get?auth={tokens['access_token']}&code=assistant_bot"
    assert requests.post(query_url, timeout=5).status_code == 200
    assert_error(oauth_get(sim, "unknown-token", code="assistant_bot"), 401, "NO_AUTH_FOUND")


def test_refresh_rotates_both_tokens_and_retires_the_old_pair(oauth_portal):
    sim, tokens = oauth_portal
    sim.expire_access_tokens("umbrella")
    assert_error(oauth_get(sim, tokens["access_token"], code="assistant_bot"), 401, "expired_token")

    resp = refresh(sim, tokens["refresh_token"])
    assert resp.status_code == 200
    new = resp.json()
    assert new["access_token"] != tokens["access_token"] and new["refresh_token"] != tokens["refresh_token"]
    assert new["expires_in"] == 3600
    assert new["client_endpoint"] == f"{sim.portal_url('umbrella')}/rest/"
    assert new["scope"] == "imbot" and new["status"] == "L"
    assert oauth_get(sim, new["access_token"], code="assistant_bot").status_code == 200

    assert_error(refresh(sim, tokens["refresh_token"]), 400, "invalid_grant")
    assert_error(oauth_get(sim, tokens["access_token"], code="assistant_bot"), 401, "NO_AUTH_FOUND")
    assert_error(refresh(sim, new["refresh_token"], secret="wrong"), 401, "invalid_client")
    assert sim.stats("umbrella")["oauth_refreshes"] == 1


def test_uninstalled_app_loses_bots_and_tokens(oauth_portal):
    sim, tokens = oauth_portal
    sim.uninstall_app("umbrella", "local.app1")
    assert_error(oauth_get(sim, tokens["access_token"], code="assistant_bot"), 401, "invalid_token")
    assert_error(refresh(sim, tokens["refresh_token"]), 401, "invalid_client")
    assert [b["code"] for b in sim.state()["portals"]["umbrella"]["bots"]] == ["other_bot"]


def batch(sim, payload: dict, portal: str = "acme") -> requests.Response:
    return requests.post(hook(sim, "batch", portal), json=payload, timeout=5)


def test_batch_collects_results_and_errors(acme):
    resp = batch(
        acme,
        {
            "halt": 0,
            "cmd": {
                "ok": "imbot.v2.Bot.get?code=support_bot&botToken=tok",
                "gone": "imbot.v2.Bot.get?code=missing_bot&botToken=tok",
                "brief": "imbot.v2.Bot.get?botId=457&botToken=wrong",
            },
        },
    )
    assert resp.status_code == 200
    body = resp.json()["result"]
    assert set(body) == {"result", "result_error", "result_total", "result_next", "result_time"}
    assert body["result"]["ok"]["bot"]["countMessage"] > 0
    assert set(body["result"]["brief"]["bot"]) == BRIEF_FIELDS
    assert body["result_error"] == {"gone": {"error": "BOT_NOT_FOUND", "error_description": "Bot not found"}}
    assert body["result_total"] == [] and body["result_next"] == []
    assert set(body["result_time"]) == {"ok", "brief"}
    assert "time" in resp.json()
    stats = acme.stats("acme")
    assert stats["requests"] == 1 and stats["batch_requests"] == 1
    assert stats["methods"]["imbot.v2.bot.get"] == 3


def test_batch_halt_list_form_and_empty_errors(acme):
    cmds = ["imbot.v2.Bot.get?code=nope&botToken=tok", "imbot.v2.Bot.get?code=support_bot&botToken=tok"]
    body = batch(acme, {"halt": 1, "cmd": cmds}).json()["result"]
    assert body["result"] == []
    assert body["result_error"] == [{"error": "BOT_NOT_FOUND", "error_description": "Bot not found"}]
    body = batch(acme, {"halt": 0, "cmd": cmds[1:]}).json()["result"]
    assert body["result_error"] == [] and body["result"][0]["bot"]["id"] == 456


def test_batch_limits_nesting_and_imbot_switch(simulator):
    simulator.add_portal("acme")
    simulator.add_portal("strict", batch_imbot=False)
    too_many = {f"c{i}": "imbot.v2.Revision.get" for i in range(51)}
    assert_error(batch(simulator, {"cmd": too_many}), 400, "ERROR_BATCH_LENGTH_EXCEEDED")
    assert_error(
        batch(simulator, {"cmd": {"a": "batch?cmd[x]=imbot.v2.Revision.get"}}), 405, "ERROR_BATCH_METHOD_NOT_ALLOWED"
    )
    assert batch(simulator, {"cmd": {"a": "imbot.v2.Revision.get"}}).status_code == 200
    resp = batch(simulator, {"cmd": {"a": "imbot.v2.Revision.get"}}, portal="strict")
    assert_error(resp, 405, "ERROR_BATCH_METHOD_NOT_ALLOWED")


def test_leaky_bucket_refuses_after_burst(simulator):
    simulator.add_portal("busy", burst=3, rate=0.01)
    statuses = [bot_get(simulator, "busy", code="x", botToken="t").status_code for _ in range(5)]
    assert statuses == [400, 400, 400, 503, 503]
    resp = bot_get(simulator, "busy", code="x", botToken="t")
    assert resp.json() == {"error": "QUERY_LIMIT_EXCEEDED", "error_description": "Too many requests"}
    stats = simulator.stats("busy")
    assert stats["rate_limited"] == 3 and stats["by_http_status"] == {"400": 3, "503": 3}


def test_operating_limit_blocks_the_next_call_of_that_method_only(simulator):
    simulator.add_portal("acme", operating_limit=0.025, processing_s=0.01)
    simulator.add_bot("acme", code="support_bot", bot_token="tok")
    times = [bot_get(simulator, code="support_bot", botToken="tok").json()["time"] for _ in range(3)]
    assert [t["operating"] for t in times] == pytest.approx([0.01, 0.02, 0.03])
    assert times[-1]["operating_reset_at"] >= int(times[0]["start"]) + 599
    assert_error(bot_get(simulator, code="support_bot", botToken="tok"), 429, "OPERATION_TIME_LIMIT")
    assert requests.post(hook(simulator, "imbot.v2.Revision.get"), json={}, timeout=5).status_code == 200
    assert simulator.stats("acme")["operating_limited"] == 1


def test_renamed_portal_redirects_to_the_new_address(acme):
    acme.rename_portal("acme", "acme2")
    old = hook(acme, "imbot.v2.Bot.get", "acme")
    resp = requests.post(old, json={"code": "support_bot", "botToken": "tok"}, allow_redirects=False, timeout=5)
    assert resp.status_code == 302
    assert resp.headers["Location"] == hook(acme, "imbot.v2.Bot.get", "acme2")
    again = requests.post(resp.headers["Location"], json={"code": "support_bot", "botToken": "tok"}, timeout=5)
    assert again.json()["result"]["bot"]["id"] == 456


def test_latency_delays_the_answer(acme):
    acme.set_latency("acme", 200)
    started = time.monotonic()
    assert bot_get(acme, code="support_bot", botToken="tok").status_code == 200
    assert time.monotonic() - started >= 0.2


def test_oauth_tokens_survive_a_restart_with_a_token_file(tmp_path):
    from simulator.server import Simulator

    token_file = tmp_path / "tokens.json"
    first = Simulator(token_file=token_file)
    first.start()
    first.add_portal("umbrella", webhook_code=None)
    tokens = first.add_oauth_app("umbrella", client_id="local.app1", client_secret="s3cret")
    refreshed = refresh(first, tokens["refresh_token"]).json()
    first.stop()
    assert token_file.stat().st_mode & 0o777 == 0o600

    second = Simulator(token_file=token_file)
    second.start()
    try:
        second.add_portal("umbrella", webhook_code=None)
        again = second.add_oauth_app("umbrella", client_id="local.app1", client_secret="s3cret")
        assert again == {"access_token": refreshed["access_token"], "refresh_token": refreshed["refresh_token"]}
        second.add_bot("umbrella", code="assistant_bot", app_client_id="local.app1")
        assert oauth_get(second, refreshed["access_token"], code="assistant_bot").status_code == 200
        assert_error(refresh(second, tokens["refresh_token"]), 400, "invalid_grant")
    finally:
        second.stop()


def test_reinstalled_app_gets_fresh_tokens(oauth_portal):
    sim, tokens = oauth_portal
    sim.uninstall_app("umbrella", "local.app1")
    again = sim.add_oauth_app("umbrella", client_id="local.app1", client_secret="s3cret")
    assert again["access_token"] != tokens["access_token"]
    assert_error(oauth_get(sim, tokens["access_token"], code="other_bot"), 401, "NO_AUTH_FOUND")
    assert oauth_get(sim, again["access_token"], code="other_bot").status_code == 200


def test_on_premise_portal_has_no_limits_and_no_operating(simulator):
    simulator.add_portal("onprem", burst=1, operating_limit=0.0, on_premise=True)
    simulator.add_bot("onprem", code="support_bot", bot_token="tok")
    answers = [bot_get(simulator, "onprem", code="support_bot", botToken="tok") for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert set(answers[-1].json()["time"]) == TIME_FIELDS - {"operating", "operating_reset_at"}


def test_portal_without_rest_is_access_denied(simulator):
    simulator.add_portal("free", rest_available=False)
    assert_error(bot_get(simulator, "free", code="x", botToken="t"), 403, "ACCESS_DENIED")


def test_legacy_portal_answers_like_servers_before_revision_35(simulator):
    simulator.add_portal("old", legacy=True)
    simulator.add_bot("old", code="support_bot", bot_token="tok")
    assert bot_get(simulator, "old", code="support_bot", botToken="tok").json()["result"]["bot"]["appId"] == "customtok"
    assert "appId" not in bot_get(simulator, "old", code="support_bot", botToken="other").json()["result"]["bot"]
    assert_error(bot_get(simulator, "old", code="support_bot"), 400, "CLIENT_ID_NOT_SPECIFIED")
