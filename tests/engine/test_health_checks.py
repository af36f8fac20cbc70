"""Installed but broken: the health checks through the engine and the real client,
against the simulator over HTTP, recorded by the engine's one recording statement."""

import json
from datetime import timedelta
from io import StringIO

import pytest
import requests
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from checks.bitrix24.sidecalls import OffsetRefused
from checks.engine import verify
from checks.engine.bot_actions import ActionRefused, accept_new_id, expect_configuration
from checks.models import AuthType, Bot, BotEvent, Portal, Verification
from checks.status import Status

pytestmark = pytest.mark.django_db
EVENT_PARAMS = {"botId", "limit", "botToken", "auth"}


def portal_with(simulator, name="acme", *, bots=(), batch_imbot=True, **portal_fields) -> Portal:
    """A webhook portal on the simulator and in BotWatch, with bots given as (code, simulator kwargs, bot kwargs)."""
    simulator.add_portal(name, webhook_user_id=1, webhook_code="k3y", batch_imbot=batch_imbot)
    portal = Portal.objects.create(
        name=name,
        url=simulator.portal_url(name),
        webhook_user_id=1,
        webhook_code="k3y",
        pace_rate=50,
        pace_burst=50,
        **portal_fields,
    )
    for code, sim_kwargs, bot_kwargs in bots:
        simulator.add_bot(name, code=code, bot_token=f"{code}-token", **sim_kwargs)
        Bot.objects.create(portal=portal, code=code, bot_token=f"{code}-token", **bot_kwargs)
    return portal


def run(portal: Portal) -> dict[str, Verification]:
    return {row.bot.code: row for row in verify.verify_portal(portal.pk, manual=True)}


def problems_of(row: Verification) -> list[tuple[str, str]]:
    return [(p["check"], p["detail"]) for p in row.problems]


def test_a_switched_off_bot_user_is_degraded_and_verify_json_says_why(simulator):
    portal = portal_with(simulator, bots=[("support_bot", {}, {})])
    assert run(portal)["support_bot"].status == Status.OK
    simulator.set_bot_user_active("acme", "support_bot", False)
    row = run(portal)["support_bot"]
    assert row.status == Status.DEGRADED and problems_of(row)[0][0] == "user_inactive"
    bot = Bot.objects.get()
    assert bot.status == Status.DEGRADED and bot.problems == row.problems
    out = StringIO()
    with pytest.raises(CommandError) as failed:
        call_command("verify", "--json", stdout=out)
    assert failed.value.returncode == 1
    line = json.loads(out.getvalue().splitlines()[0])
    assert line["status"] == "degraded"
    assert line["problems"] == [{"check": "user_inactive", "detail": problems_of(row)[0][1]}]


def test_an_event_backlog_of_a_fetch_bot_is_degraded_and_clears_when_polled(simulator):
    portal = portal_with(simulator, bots=[("queue_bot", {"event_mode": "fetch"}, {"backlog_minutes": 15})])
    assert run(portal)["queue_bot"].status == Status.OK  # learns the bot is in fetch mode
    simulator.add_events("acme", "queue_bot", count=40, age_s=3600)
    row = run(portal)["queue_bot"]
    assert row.status == Status.DEGRADED
    assert problems_of(row) == [("event_backlog", "oldest pending event is 1 h old (threshold 15 min)")]
    assert 3590 <= row.event_backlog_s <= 3700
    simulator.set_oldest_event_age("acme", "queue_bot", 21 * 3600)
    [critical] = run(portal)["queue_bot"].problems
    assert critical["critical"] and "deletes events after 24 h" in critical["detail"]
    simulator.clear_events("acme", "queue_bot")
    row = run(portal)["queue_bot"]
    assert (row.status, row.event_backlog_s) == (Status.OK, 0)
    assert Bot.objects.get().event_backlog_s == 0


def fetch_bots(n: int) -> list:
    return [(f"q{i}", {"event_mode": "fetch"}, {}) for i in range(n)]


@pytest.mark.parametrize("batch_imbot", [True, False])
def test_no_code_path_sends_an_offset_to_event_get(simulator, batch_imbot):
    portal = portal_with(simulator, bots=fetch_bots(3), batch_imbot=batch_imbot)
    for i in range(3):
        simulator.add_events("acme", f"q{i}", count=5, age_s=60)
    run(portal)  # learns the event mode
    # Retries after QUERY_LIMIT_EXCEEDED, then a redirect to a renamed portal: every path re-sends.
    simulator.inject_fault("acme", "QUERY_LIMIT_EXCEEDED", times=2)
    run(portal)
    simulator.rename_portal("acme", "acme-new")
    run(portal)
    stats = simulator.stats("acme-new")  # the renamed portal keeps its stats
    assert stats["event_get_with_offset"] == 0 and stats["events_deleted"] == 0
    calls = stats["event_get_params"]
    assert len(calls) >= 6 and all(set(names) <= EVENT_PARAMS for names in calls)
    # Every queue still holds its five events: nothing was acknowledged. The control: a call
    # with an offset does delete, so the counters above would have seen one.
    assert [simulator.clear_events("acme-new", f"q{i}") for i in range(3)] == [5, 5, 5]
    simulator.add_events("acme-new", "q0", count=2)
    _raw_event_get_with_offset(simulator, "acme-new")
    assert simulator.stats("acme-new")["events_deleted"] >= 1


def _raw_event_get_with_offset(simulator, portal: str) -> None:
    bot = Bot.objects.get(code="q0")
    url = f"{simulator.portal_url(portal)}/rest/1/k3y/imbot.v2.Event.get"
    body = {"botId": bot.pinned_id, "botToken": "q0-token", "offset": 10**9}
    requests.post(url, json=body, timeout=5).raise_for_status()


def test_the_guard_refuses_an_offset_before_it_leaves(simulator):
    portal = portal_with(simulator, bots=fetch_bots(1))
    from checks.bitrix24.client import Bitrix24Client

    client = Bitrix24Client(portal)
    with pytest.raises(OffsetRefused):
        client.call("imbot.v2.Event.get", {"botId": 1, "offset": 3})
    assert simulator.stats("acme")["event_get_with_offset"] == 0


def test_an_oauth_portal_peeks_without_offset_too(simulator, settings):
    settings.BITRIX24_OAUTH_URL = simulator.oauth_url
    simulator.add_portal("oa", webhook_user_id=None, webhook_code=None)
    app = simulator.add_oauth_app("oa", client_id="local.app", client_secret="s3cret")
    simulator.add_bot("oa", code="q", app_client_id="local.app", event_mode="fetch")
    simulator.add_events("oa", "q", count=2, age_s=30)
    portal = Portal.objects.create(
        name="oa",
        url=simulator.portal_url("oa"),
        auth_type=AuthType.OAUTH,
        oauth_client_id="local.app",
        oauth_client_secret="s3cret",
        oauth_access_token=app["access_token"],
        oauth_refresh_token=app["refresh_token"],
        pace_rate=50,
        pace_burst=50,
    )
    Bot.objects.create(portal=portal, code="q")
    run(portal)
    simulator.expire_access_tokens("oa")  # the next call is retried after a token refresh
    assert run(portal)["q"].status == Status.OK
    stats = simulator.stats("oa")
    assert stats["event_get_params"] and stats["event_get_with_offset"] == 0 and stats["events_deleted"] == 0


def test_drift_from_the_expected_event_mode_is_degraded(simulator):
    portal = portal_with(
        simulator, bots=[("notify_bot", {"event_mode": "fetch"}, {"expect": {"eventMode": "fetch", "language": "en"}})]
    )
    assert run(portal)["notify_bot"].status == Status.OK
    simulator.update_bot("acme", "notify_bot", {"eventMode": "webhook", "language": "de"})
    row = run(portal)["notify_bot"]
    assert problems_of(row) == [
        ("drift", "eventMode: expected fetch, got webhook"),
        ("drift", "language: expected en, got de"),
    ]


def test_missing_commands_are_listed_at_the_first_check_then_at_most_hourly(simulator):
    expect = {"commands": ["help", "start"]}
    portal = portal_with(simulator, bots=[("helpdesk_bot", {"event_mode": "webhook"}, {"expect": expect})])
    simulator.set_commands("acme", "helpdesk_bot", ["help"])
    row = run(portal)["helpdesk_bot"]  # known by code only: listed with the id Bot.get just gave
    assert problems_of(row) == [("commands", "command start is not registered (Command.list has: help)")]
    assert simulator.stats("acme")["methods"].get("imbot.v2.command.list") == 1
    # Within the hour: no second listing, and the missing command is still reported.
    assert run(portal)["helpdesk_bot"].status == Status.DEGRADED
    assert simulator.stats("acme")["methods"].get("imbot.v2.command.list") == 1
    Bot.objects.update(commands_checked_at=timezone.now() - timedelta(hours=1))
    simulator.set_commands("acme", "helpdesk_bot", ["help", "start"])
    assert run(portal)["helpdesk_bot"].status == Status.OK
    assert simulator.stats("acme")["methods"].get("imbot.v2.command.list") == 2


def test_a_reregistered_bot_is_degraded_until_its_new_id_is_accepted(simulator):
    portal = portal_with(simulator, bots=[("concierge_bot", {}, {})])
    run(portal)
    old_id = Bot.objects.get().pinned_id
    assert old_id
    moved = simulator.reregister_bot("acme", "concierge_bot")
    row = run(portal)["concierge_bot"]
    assert problems_of(row) == [("reregistered", f"id {old_id} -> {moved['id']}")]
    bot = Bot.objects.get()
    assert bot.pinned_id == old_id and bot.remote_id == moved["id"]  # never moved silently
    with pytest.raises(ActionRefused):
        accept_new_id(bot, moved["id"] + 1)  # an id nobody saw
    accept_new_id(bot, moved["id"])
    assert run(portal)["concierge_bot"].status == Status.OK
    assert Bot.objects.get().pinned_id == moved["id"]
    assert BotEvent.objects.filter(kind=BotEvent.Kind.ID_ACCEPTED).count() == 1


def test_a_code_taken_by_another_applications_bot_stays_not_found(simulator):
    portal = portal_with(simulator, bots=[("support_bot", {}, {})])
    run(portal)
    simulator.remove_bot("acme", "support_bot")
    simulator.add_bot("acme", code="support_bot", bot_id=9001, bot_token="someone-elses")
    row = run(portal)["support_bot"]
    assert row.status == Status.NOT_FOUND
    assert "in the brief format" in row.error_description
    bot = Bot.objects.get()
    assert bot.pinned_id != 9001 and bot.remote_id != 9001  # never adopted: not the owner's answer


def test_a_rotated_token_answered_with_bot_ownership_error_is_not_owner(simulator):
    simulator.add_portal("hooli", webhook_user_id=1, webhook_code="k3y", ownership_error_on_get=True)
    simulator.add_bot("hooli", code="rotated_bot", bot_token="old-token")
    portal = Portal.objects.create(
        name="hooli", url=simulator.portal_url("hooli"), webhook_user_id=1, webhook_code="k3y", pace_rate=50
    )
    Bot.objects.create(portal=portal, code="rotated_bot", bot_token="old-token")
    simulator.rotate_bot_token("hooli", "rotated_bot", "new-token")
    row = run(portal)["rotated_bot"]
    assert (row.status, row.error_code) == (Status.NOT_OWNER, "BOT_OWNERSHIP_ERROR")


def test_health_calls_ride_in_the_bots_batch(simulator):
    portal = portal_with(simulator, bots=fetch_bots(26))
    run(portal)  # first run: Bot.get only, 26 commands and the portal probe in one batch
    simulator.reset_stats("acme")
    run(portal)  # the probe (server.time, profile) + 26 x {Bot.get, Event.get} = 54 commands: two batches
    assert simulator.stats("acme")["requests"] == 2
    Bot.objects.filter(code__in=["q24", "q25"]).delete()
    simulator.reset_stats("acme")
    run(portal)  # 2 + 24 x 2 = 50: one batch
    assert simulator.stats("acme")["requests"] == 1
    assert simulator.stats("acme")["methods"]["server.time"] == 1


def test_without_batch_health_calls_are_paced_single_calls(simulator):
    portal = portal_with(simulator, bots=fetch_bots(3), batch_imbot=False)
    run(portal)
    simulator.reset_stats("acme")
    rows = run(portal)
    assert all(r.status == Status.OK and r.event_backlog_s == 0 for r in rows.values())
    stats = simulator.stats("acme")
    # The probe's server.time and profile first, then 3 x {Bot.get, Event.get}, all single calls.
    assert stats["requests"] == 8 and stats["by_http_status"].get("503", 0) == 0


def test_a_configuration_change_is_recorded_once_and_expect_this_turns_it_into_drift(simulator):
    portal = portal_with(simulator, bots=[("support_bot", {"language": "de"}, {})])
    run(portal)
    simulator.update_bot("acme", "support_bot", {"language": "en"})
    assert run(portal)["support_bot"].status == Status.OK  # no alert for a change nobody expected otherwise
    run(portal)
    [event] = BotEvent.objects.filter(kind=BotEvent.Kind.CONFIG_CHANGED)
    assert event.note == "language: de -> en" and event.changes == {"language": ["de", "en"]}
    bot = Bot.objects.get()
    assert expect_configuration(bot, event) == {"language": "en"}
    simulator.update_bot("acme", "support_bot", {"language": "fr"})
    assert problems_of(run(portal)["support_bot"]) == [("drift", "language: expected en, got fr")]
    assert BotEvent.objects.filter(kind=BotEvent.Kind.CONFIG_CHANGED).count() == 1  # expected fields are drift


def test_a_backlog_is_seen_at_the_first_check_of_a_new_bot(simulator):
    portal = portal_with(simulator, bots=fetch_bots(2))
    simulator.add_events("acme", "q0", count=3, age_s=3600)
    simulator.add_events("acme", "q1", count=3, age_s=3600)
    rows = run(portal)  # nothing known of the bots yet: the same run looks at their queues
    assert [r.problems[0]["check"] for r in rows.values()] == ["event_backlog", "event_backlog"]
    assert simulator.stats("acme")["requests"] == 2  # one batch of Bot.get, one of Event.get
