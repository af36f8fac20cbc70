"""The demo scenario's installed-but-broken bots, as BotWatch will meet them through its portal file."""

from datetime import datetime

import pytest
import requests
import yaml

from simulator.scenario import validate_scenario
from tests.fixtures.simulator import DEMO_SCENARIO


def call(sim, method: str, portal: str, webhook: tuple, **params) -> dict:
    url = f"{sim.portal_url(portal)}/rest/{webhook[0]}/{webhook[1]}/{method}"
    return requests.post(url, json=params, timeout=5).json()


@pytest.fixture
def demo(simulator):
    return simulator, simulator.load_scenario(validate_scenario(yaml.safe_load(DEMO_SCENARIO.read_text())))


def demo_entry(portal_file: dict, portal: str, code: str) -> dict:
    entries = next(p for p in portal_file["portals"] if p["name"] == portal)["bots"]
    return next(b for b in entries if b.get("code") == code)


def demo_call(sim, portal_file: dict, portal: str, method: str, **params) -> dict:
    hook = next(p for p in portal_file["portals"] if p["name"] == portal)["webhook"]
    return call(sim, method, portal, (hook["user_id"], hook["code"]), **params)


def test_demo_bots_that_are_installed_but_broken(demo):
    sim, portal_file = demo
    sim.clear_faults("hooli")
    queue = demo_entry(portal_file, "acme", "queue_bot")
    assert queue["backlog_minutes"] == 15 and "expect" not in queue
    queue_id = call_bot(sim, portal_file, "acme", queue)["bot"]["id"]
    peek = demo_call(sim, portal_file, "acme", "imbot.v2.Event.get", botId=queue_id, botToken=queue["bot_token"],
                     limit=1000)["result"]  # fmt: skip
    assert len(peek["events"]) == 40
    age = sim.clock() - datetime.fromisoformat(peek["events"][0]["date"]).timestamp()
    assert age == pytest.approx(90 * 60, abs=60)

    legacy = demo_entry(portal_file, "acme", "legacy_token_bot")
    assert len(legacy["bot_token"]) == 48 and "countMessage" in call_bot(sim, portal_file, "acme", legacy)["bot"]

    billing = call_bot(sim, portal_file, "globex", demo_entry(portal_file, "globex", "billing_bot"))
    assert billing["users"][0]["active"] is False and "countMessage" in billing["bot"]

    helpdesk = demo_entry(portal_file, "globex", "helpdesk_bot")
    assert helpdesk["expect"] == {"commands": ["help", "ticket"]}
    helpdesk_id = call_bot(sim, portal_file, "globex", helpdesk)["bot"]["id"]
    listed = demo_call(sim, portal_file, "globex", "imbot.v2.Command.list", botId=helpdesk_id,
                       botToken=helpdesk["bot_token"])["result"]["commands"]  # fmt: skip
    assert [c["command"] for c in listed] == ["help"]

    notify = demo_entry(portal_file, "globex", "notify_bot")
    assert notify["expect"] == {"eventMode": "fetch"}
    assert call_bot(sim, portal_file, "globex", notify)["bot"]["eventMode"] == "webhook"

    concierge = demo_entry(portal_file, "hooli", "concierge_bot")
    by_id = demo_call(sim, portal_file, "hooli", "imbot.v2.Bot.get", botId=concierge["id"],
                      botToken=concierge["bot_token"])  # fmt: skip
    assert by_id["error"] == "BOT_NOT_FOUND"
    now_id = call_bot(sim, portal_file, "hooli", concierge)["bot"]["id"]
    assert now_id != concierge["id"]


def call_bot(sim, portal_file: dict, portal: str, entry: dict) -> dict:
    """Bot.get by code with the entry's token, as BotWatch's by-code lookup would."""
    return demo_call(sim, portal_file, portal, "imbot.v2.Bot.get", code=entry["code"], botToken=entry["bot_token"])[
        "result"
    ]


def test_the_demo_keeps_its_earlier_bots(demo):
    _, portal_file = demo
    codes = {p["name"]: [b.get("code") or b["id"] for b in p["bots"]] for p in portal_file["portals"]}
    assert codes == {
        "acme": ["support_bot", "sales_bot", "hr_bot", "queue_bot", "legacy_token_bot", "onboarding_bot"],
        "globex": ["helpdesk_bot", "billing_bot", "faq_bot", 912, "legacy_bot", "notify_bot"],
        "initech": ["orders_bot", "delivery_bot"],
        "hooli": ["concierge_bot", "alerts_bot"],
        "umbrella": ["assistant_bot", "crm_bot"],
        "wayne": ["butler_bot"],
        "vandelay": ["import_bot", "export_bot", "latex_bot"],
        "stark": ["greeter_bot", "slow_bot", "dead_bot", "mute_bot", "busy_bot"],
    }


def test_the_demo_probes_a_slow_answerer_and_a_dead_one(demo):
    sim, portal_file = demo
    [stark] = [p for p in portal_file["portals"] if p["name"] == "stark"]
    assert stark["answer_webhook"] == {"user_id": 9, "code": "stark9probe3demo"}
    answers = {b["code"]: b.get("answer") for b in stark["bots"]}
    assert answers["slow_bot"] == {"text": "/ping", "within": 30, "every": 300}
    assert answers["busy_bot"] is None
    assert [b.get("silence") for b in stark["bots"] if b["code"] == "mute_bot"] == [600]
    bots = {b["code"]: b for b in sim.state()["portals"]["stark"]["bots"]}
    assert bots["slow_bot"]["answer"]["delay_s"] == 20 and bots["dead_bot"]["answer"]["mode"] == "error"
    assert bots["mute_bot"]["growth"] is False


def test_the_brokered_demo_portal_names_its_broker_and_the_broker_answers(demo):
    _, portal_file = demo
    [wayne] = [p for p in portal_file["portals"] if p["name"] == "wayne"]
    oauth = wayne["oauth"]
    assert set(oauth) == {"client_id", "broker_url", "broker_secret"}  # no refresh token for BotWatch
    headers = {"Authorization": f"Bearer {oauth['broker_secret']}"}
    token = requests.get(oauth["broker_url"], headers=headers, timeout=10).json()
    assert token["access_token"] and token["expires_at"].endswith("+00:00")


def test_demo_portal_health(demo):
    _, portal_file = demo
    vandelay = next(p for p in portal_file["portals"] if p["name"] == "vandelay")
    hook = vandelay["webhook"]
    answer = requests.post(f"{vandelay['url']}/rest/{hook['user_id']}/{hook['code']}/server.time", timeout=5)
    assert answer.status_code == 502  # down: one portal incident for its three bots
    umbrella = next(p for p in portal_file["portals"] if p["name"] == "umbrella")
    url = f"{umbrella['url']}/rest/app.info"
    info = requests.post(url, json={"auth": umbrella["oauth"]["access_token"]}, timeout=5).json()["result"]
    assert (info["DAYS"], info["PAYMENT_EXPIRED"], info["LICENSE"]) == (5, "N", "de_ent250")
