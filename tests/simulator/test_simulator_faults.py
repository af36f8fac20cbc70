"""Injected faults: Bitrix24 error codes, garbage answers and transport failures, by count, chance and bot."""

import hmac
import json
import threading
import time

import pytest
import requests

from simulator.errors import ERRORS
from simulator.server import SimulatorError
from tests.fixtures.celery_worker import wait_for

SYSTEM_ERRORS = [
    "INTERNAL_SERVER_ERROR",
    "ERROR_UNEXPECTED_ANSWER",
    "QUERY_LIMIT_EXCEEDED",
    "OPERATION_TIME_LIMIT",
    "NO_AUTH_FOUND",
    "INVALID_REQUEST",
    "OVERLOAD_LIMIT",
    "ACCESS_DENIED",
    "INVALID_CREDENTIALS",
    "insufficient_scope",
    "expired_token",
    "invalid_token",
    "user_access_error",
    "PORTAL_DELETED",
    "ERROR_METHOD_NOT_FOUND",
    "ERROR_BATCH_METHOD_NOT_ALLOWED",
    "BOT_NOT_FOUND",
    "PARAMS_REQUIRED",
    "BOT_TOKEN_NOT_SPECIFIED",
]
EXPECTED_STATUS = {
    "INTERNAL_SERVER_ERROR": 500,
    "ERROR_UNEXPECTED_ANSWER": 500,
    "QUERY_LIMIT_EXCEEDED": 503,
    "OPERATION_TIME_LIMIT": 429,
    "NO_AUTH_FOUND": 401,
    "INVALID_REQUEST": 400,
    "OVERLOAD_LIMIT": 503,
    "ACCESS_DENIED": 403,
    "INVALID_CREDENTIALS": 403,
    "insufficient_scope": 403,
    "expired_token": 401,
    "invalid_token": 401,
    "user_access_error": 403,
    "PORTAL_DELETED": 500,
    "ERROR_METHOD_NOT_FOUND": 404,
    "ERROR_BATCH_METHOD_NOT_ALLOWED": 405,
    "BOT_NOT_FOUND": 400,
    "PARAMS_REQUIRED": 400,
    "BOT_TOKEN_NOT_SPECIFIED": 400,
}


@pytest.fixture
def sim(simulator):
    simulator.add_portal("acme", burst=10_000, rate=1000)
    simulator.add_bot("acme", code="support_bot", bot_id=456, bot_token="tok")
    simulator.add_bot("acme", code="sales_bot", bot_id=457, bot_token="tok2")
    return simulator


def get(sim, code: str = "support_bot", token: str = "tok", timeout: float = 5) -> requests.Response:  # noqa: S107
    url = f"{sim.portal_url('acme')}/rest/1/k3y/imbot.v2.Bot.get"
    return requests.post(url, json={"code": code, "botToken": token}, timeout=timeout)


@pytest.mark.parametrize("code", SYSTEM_ERRORS)
def test_each_error_code_answers_with_its_status_and_text(sim, code):
    sim.inject_fault("acme", code, times=1)
    resp = get(sim)
    assert resp.status_code == EXPECTED_STATUS[code]
    assert resp.json() == {"error": code, "error_description": ERRORS[code][1]}
    assert get(sim).status_code == 200


def test_times_fires_exactly_that_often_then_clears(sim):
    sim.inject_fault("acme", "INTERNAL_SERVER_ERROR", times=2)
    assert [get(sim).status_code for _ in range(4)] == [500, 500, 200, 200]
    assert sim.state()["portals"]["acme"]["faults"] == []


def test_fault_without_times_or_probability_lasts_until_cleared(sim):
    sim.inject_fault("acme", "OVERLOAD_LIMIT")
    assert {get(sim).status_code for _ in range(5)} == {503}
    sim.clear_faults("acme")
    assert get(sim).status_code == 200


def test_probability_fires_on_a_share_of_calls(sim):
    sim.inject_fault("acme", "QUERY_LIMIT_EXCEEDED", probability=0.5)
    statuses = [get(sim).status_code for _ in range(120)]
    assert 30 < statuses.count(503) < 90
    assert statuses.count(503) + statuses.count(200) == 120
    sim.clear_faults("acme")
    sim.inject_fault("acme", "QUERY_LIMIT_EXCEEDED", probability=0.0)
    assert {get(sim).status_code for _ in range(20)} == {200}


def test_fault_for_one_bot_leaves_the_others_alone(sim):
    sim.inject_fault("acme", "BOT_NOT_FOUND", bot="sales_bot")
    assert get(sim, "sales_bot", "tok2").json()["error"] == "BOT_NOT_FOUND"
    assert get(sim).status_code == 200
    by_id = requests.post(
        f"{sim.portal_url('acme')}/rest/1/k3y/imbot.v2.Bot.get", json={"botId": 457, "botToken": "tok2"}, timeout=5
    )
    assert by_id.json()["error"] == "BOT_NOT_FOUND"


def test_fault_for_one_bot_lands_in_its_batch_entry(sim):
    sim.inject_fault("acme", "INTERNAL_SERVER_ERROR", bot="sales_bot")
    cmd = {"a": "imbot.v2.Bot.get?code=support_bot&botToken=tok", "b": "imbot.v2.Bot.get?code=sales_bot&botToken=tok2"}
    resp = requests.post(f"{sim.portal_url('acme')}/rest/1/k3y/batch", json={"cmd": cmd}, timeout=5)
    assert resp.status_code == 200
    body = resp.json()["result"]
    assert list(body["result"]) == ["a"]
    assert body["result_error"]["b"]["error"] == "INTERNAL_SERVER_ERROR"


def test_portal_wide_fault_fails_the_whole_batch(sim):
    sim.inject_fault("acme", "QUERY_LIMIT_EXCEEDED", times=1)
    cmd = {"a": "imbot.v2.Bot.get?code=support_bot&botToken=tok"}
    resp = requests.post(f"{sim.portal_url('acme')}/rest/1/k3y/batch", json={"cmd": cmd}, timeout=5)
    assert resp.status_code == 503


def test_html_error_pages(sim):
    sim.inject_fault("acme", "html_500", times=1)
    sim.inject_fault("acme", "html_502", times=1)
    first, second = get(sim), get(sim)
    assert (first.status_code, second.status_code) == (500, 502)
    assert first.headers["Content-Type"].startswith("text/html") and "<html>" in second.text


def test_garbage_answers_with_200(sim):
    sim.inject_fault("acme", "not_json", times=1)
    resp = get(sim)
    assert resp.status_code == 200
    with pytest.raises(ValueError):
        resp.json()

    sim.inject_fault("acme", "no_result_bot", times=1)
    resp = get(sim)
    assert resp.status_code == 200 and "bot" not in resp.json()["result"]

    sim.inject_fault("acme", "truncated_json", times=1)
    resp = get(sim)
    assert resp.status_code == 200 and resp.text.startswith('{"result"')
    with pytest.raises(json.JSONDecodeError):
        json.loads(resp.text)


def test_custom_unknown_error_code(sim):
    sim.inject_fault("acme", "custom", code="SOMETHING_NEW", http_status=418, description="New in rest 37", times=1)
    resp = get(sim)
    assert resp.status_code == 418
    assert resp.json() == {"error": "SOMETHING_NEW", "error_description": "New in rest 37"}


def test_reset_closes_the_connection_without_an_answer(sim):
    sim.inject_fault("acme", "reset", times=1)
    with pytest.raises(requests.ConnectionError):
        get(sim)
    assert get(sim).status_code == 200
    assert sim.stats("acme")["by_http_status"] == {"200": 1, "reset": 1}


def test_timeout_outlasts_the_client_and_stop_interrupts_it(sim):
    sim.inject_fault("acme", "timeout", sleep_s=30, times=2)
    with pytest.raises(requests.ReadTimeout):
        get(sim, timeout=0.3)

    outcome: list = []

    def slow_call() -> None:
        try:
            outcome.append(get(sim, timeout=60))
        except requests.RequestException as exc:
            outcome.append(exc)

    caller = threading.Thread(target=slow_call)
    caller.start()
    time.sleep(0.3)
    sim.stop()
    caller.join(timeout=10)
    assert not caller.is_alive(), "stop() must interrupt a sleeping timeout fault"
    assert isinstance(outcome[0], requests.ConnectionError)


def test_short_timeout_fault_answers_late_but_answers(sim):
    sim.inject_fault("acme", "timeout", sleep_s=0.2, times=1)
    assert get(sim, timeout=5).status_code == 200


def test_trickle_sends_headers_then_the_body_a_byte_at_a_time_and_gives_up(sim):
    sim.inject_fault("acme", "trickle", interval_s=0.1, sleep_s=1.0, times=1)
    started = time.monotonic()
    response = requests.post(
        f"{sim.portal_url('acme')}/rest/1/k3y/imbot.v2.Bot.get",
        json={"code": "support_bot", "botToken": "tok"},
        timeout=5,
        stream=True,
    )
    assert response.status_code == 200 and int(response.headers["Content-Length"]) > 100
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        response.content  # noqa: B018 - reading is the point
    assert 0.9 < time.monotonic() - started < 3  # about ten bytes, then the connection closed
    assert get(sim).status_code == 200


def test_trickle_headers_never_finishes_the_header_block(sim):
    sim.inject_fault("acme", "trickle_headers", interval_s=0.1, sleep_s=1.0, times=1)
    started = time.monotonic()
    response = get(sim, timeout=5)  # each byte comes well within the per-read timeout
    assert 0.9 < time.monotonic() - started < 3
    # http.client takes the cut for the end of the headers: a "200" without a body or its length.
    assert "Content-Length" not in response.headers and response.content == b""


def test_redirect_answers_with_the_location_given(sim):
    sim.inject_fault("acme", "redirect", location="https://elsewhere.example/rest/", http_status=301, times=1)
    response = requests.post(f"{sim.portal_url('acme')}/rest/1/k3y/imbot.v2.Bot.get", timeout=5, allow_redirects=False)
    assert (response.status_code, response.headers["Location"]) == (301, "https://elsewhere.example/rest/")


def test_set_cookie_answers_normally_and_cookies_sent_back_are_counted(sim):
    sim.inject_fault("acme", "set_cookie", times=1)
    with requests.Session() as session:
        url = f"{sim.portal_url('acme')}/rest/1/k3y/imbot.v2.Bot.get"
        first = session.post(url, json={"code": "support_bot", "botToken": "tok"}, timeout=5)
        assert first.status_code == 200 and first.headers["Set-Cookie"].startswith("sid=")
        assert session.post(url, json={"code": "support_bot", "botToken": "tok"}, timeout=5).status_code == 200
    assert sim.stats("acme")["requests_with_cookie"] == 1


def test_requests_in_flight_are_counted_with_their_peak(sim):
    sim.inject_fault("acme", "timeout", sleep_s=0.5, times=3)
    callers = [threading.Thread(target=get, args=(sim,)) for _ in range(3)]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join(timeout=10)
    # A caller may have its answer a moment before the server's thread counts the request done.
    wait_for(lambda: sim.stats("acme")["in_flight"] == 0, 5, "the requests to be counted done", every=0.01)
    assert sim.stats("acme")["max_in_flight"] == 3


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": "NOPE"}, "unknown fault kind"),
        ({"kind": "custom"}, "needs code"),
        ({"kind": "html_500", "times": 0}, "times"),
        ({"kind": "html_500", "probability": 2}, "probability"),
        ({"kind": "html_500", "colour": "red"}, "colour"),
        ({"kind": "redirect"}, "needs location"),
        ({"kind": "trickle", "interval_s": 0}, "interval_s"),
    ],
)
def test_bad_fault_arguments_are_named(sim, kwargs, message):
    with pytest.raises(SimulatorError, match=message):
        sim.inject_fault("acme", **kwargs)


def test_oauth_server_fault_hits_refreshes_only(simulator):
    simulator.add_portal("umbrella", webhook_code=None)
    tokens = simulator.add_oauth_app("umbrella", client_id="local.app1", client_secret="s3cret")
    simulator.add_bot("umbrella", code="assistant_bot", app_client_id="local.app1")
    simulator.inject_fault("umbrella", "html_502", method="oauth", times=1)
    simulator.inject_fault("umbrella", "invalid_grant", method="oauth", times=1)
    call = {"auth": tokens["access_token"], "code": "assistant_bot"}
    rest = f"{simulator.portal_url('umbrella')}/rest/imbot.v2.Bot.get"
    assert requests.post(rest, json=call, timeout=5).status_code == 200  # REST calls are untouched
    params = {"grant_type": "refresh_token", "client_id": "local.app1", "client_secret": "s3cret"}
    refresh = {**params, "refresh_token": tokens["refresh_token"]}
    assert requests.get(simulator.oauth_url, params=refresh, timeout=5).status_code == 502
    denied = requests.get(simulator.oauth_url, params=refresh, timeout=5)
    assert (denied.status_code, denied.json()["error"]) == (400, "invalid_grant")
    assert requests.get(simulator.oauth_url, params=refresh, timeout=5).status_code == 200
    assert simulator.stats("umbrella")["oauth_refreshes"] == 1


def test_the_broker_compares_its_secret_in_constant_time(simulator, monkeypatch):
    simulator.add_portal("brokered", webhook_code=None)
    simulator.add_oauth_app("brokered", "local.brk", "the-apps-own-client-secret")
    url = simulator.add_broker("brokered", "local.brk", "broker-secret-7f3a9c")["broker_url"]
    compared, real = [], hmac.compare_digest

    def spy(a, b):
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr("simulator.broker.hmac.compare_digest", spy)
    wrong = requests.get(url, headers={"Authorization": "Bearer broker-secret-7f3a9X"}, timeout=5)
    right = requests.get(url, headers={"Authorization": "Bearer broker-secret-7f3a9c"}, timeout=5)
    assert (wrong.status_code, right.status_code) == (401, 200)
    expected = b"Bearer broker-secret-7f3a9c"
    assert compared == [(b"Bearer broker-secret-7f3a9X", expected), (expected, expected)]
