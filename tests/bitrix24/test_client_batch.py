"""Many bots of one portal in one `batch` request, and the fallback to single calls."""
# ruff: noqa: F811 - the fixtures imported from tests.bitrix24.helpers are parameters here

import json

import pytest

from checks.bitrix24.client import Bitrix24Client, verify_bots
from checks.models import Bot, Portal
from checks.status import Status
from tests.bitrix24.helpers import build_commands, fast, parse_batch, sim, webhook_bot, webhook_portal  # noqa: F401

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast")]


def test_mixed_bots_in_one_batch_are_classified_each(sim):
    portal = webhook_portal(sim)
    healthy = webhook_bot(sim, portal, "healthy")
    missing = webhook_bot(sim, portal, "missing")
    rotated = webhook_bot(sim, portal, "rotated")
    no_token = Bot.objects.create(portal=portal, code="no_token")
    sim.add_bot("acme", code="no_token", bot_token="something-else")
    sim.remove_bot("acme", "missing")
    sim.rotate_bot_token("acme", "rotated", "new-token-123")
    results = verify_bots(portal, [healthy, missing, rotated, no_token])
    assert [r.bot_pk for r in results] == [healthy.pk, missing.pk, rotated.pk, no_token.pk]
    assert [(r.status, r.error_code) for r in results] == [
        (Status.OK, None),
        (Status.NOT_FOUND, "BOT_NOT_FOUND"),
        (Status.NOT_OWNER, None),
        (Status.MISCONFIGURED, "BOT_TOKEN_NOT_SPECIFIED"),
    ]
    # The batch answered 200; a command's error has no HTTP status of its own.
    assert [r.http_status for r in results] == [200, None, 200, None]
    assert results[0].counters and {"duration", "operating"} <= set(results[0].time)
    stats = sim.stats("acme")
    assert stats["requests"] == 1 and stats["batch_requests"] == 1
    portal.refresh_from_db()
    assert portal.batch_supported is True


def test_commands_are_query_encoded_with_the_bot_token(sim):
    portal = webhook_portal(sim)
    by_code = webhook_bot(sim, portal, "a&b", token="t/o k=en")
    by_id = Bot.objects.create(portal=portal, bot_id=77, bot_token="tok-77-secret")
    commands = build_commands(Bitrix24Client(portal), [by_code, by_id])
    assert commands == {
        "bot0": "imbot.v2.Bot.get?code=a%26b&botToken=t%2Fo+k%3Den",
        "bot1": "imbot.v2.Bot.get?botId=77&botToken=tok-77-secret",
    }
    sim.add_bot("acme", code="seventy_seven", bot_id=77, bot_token="tok-77-secret")
    results = verify_bots(portal, [by_code, by_id])
    assert [r.status for r in results] == [Status.OK, Status.OK]
    assert results[1].fields["id"] == 77


def test_more_than_fifty_bots_go_in_chunks(sim):
    portal = webhook_portal(sim)
    bots = [webhook_bot(sim, portal, f"bot_{i:03}") for i in range(101)]
    results = verify_bots(portal, bots)
    assert [r.status for r in results] == [Status.OK] * 101
    assert [r.fields["code"] for r in results] == [b.code for b in bots]
    stats = sim.stats("acme")
    # 50 + 50 in two batches, the lone last bot as a single call.
    assert stats["batch_requests"] == 2
    assert stats["requests"] == 3


def test_portal_refusing_imbot_in_batch_falls_back_and_remembers(sim):
    portal = webhook_portal(sim, batch_imbot=False)
    bots = [webhook_bot(sim, portal, f"bot_{i}") for i in range(3)]
    results = verify_bots(portal, bots)
    assert [r.status for r in results] == [Status.OK] * 3
    portal.refresh_from_db()
    assert portal.batch_supported is False
    assert sim.stats("acme")["by_http_status"] == {"200": 3, "405": 1}
    sim.reset_stats("acme")
    verify_bots(Portal.objects.get(pk=portal.pk), bots)
    assert sim.stats("acme")["methods"] == {"imbot.v2.bot.get": 3}  # no batch tried again


def test_batch_level_failure_applies_to_every_bot(sim):
    portal = webhook_portal(sim)
    bots = [webhook_bot(sim, portal, f"bot_{i}") for i in range(3)]
    sim.inject_fault("acme", "html_502")
    results = verify_bots(portal, bots)
    assert [(r.status, r.http_status) for r in results] == [(Status.SERVER_ERROR, 502)] * 3
    assert [r.bot_pk for r in results] == [b.pk for b in bots]


def test_batch_auth_failure_applies_to_every_bot(sim):
    portal = webhook_portal(sim)
    bots = [webhook_bot(sim, portal, f"bot_{i}") for i in range(2)]
    Portal.objects.filter(pk=portal.pk).update(webhook_code="wrong-code-xyz")
    results = verify_bots(Portal.objects.get(pk=portal.pk), bots)
    assert [(r.status, r.error_code) for r in results] == [(Status.AUTH_FAILED, "NO_AUTH_FOUND")] * 2


def test_per_command_error_inside_a_batch(sim):
    portal = webhook_portal(sim)
    bots = [webhook_bot(sim, portal, f"bot_{i}") for i in range(3)]
    sim.inject_fault("acme", "INTERNAL_SERVER_ERROR", bot="bot_1")
    results = verify_bots(portal, bots)
    assert [r.status for r in results] == [Status.OK, Status.SERVER_ERROR, Status.OK]
    assert results[1].error_code == "INTERNAL_SERVER_ERROR"


def test_operation_time_limit_inside_a_batch_blocks_the_portal(sim):
    portal = webhook_portal(sim)
    bots = [webhook_bot(sim, portal, f"bot_{i}") for i in range(2)]
    sim.inject_fault("acme", "OPERATION_TIME_LIMIT", bot="bot_0")
    results = verify_bots(portal, bots)
    assert results[0].status == Status.RATE_LIMITED
    portal.refresh_from_db()
    assert portal.blocked_until is not None
    again = verify_bots(portal, bots)
    assert [r.error_code for r in again] == ["OPERATION_TIME_LIMIT"] * 2
    assert sim.stats("acme")["requests"] == 1


def test_truncated_batch_answer_is_bad_response_for_every_bot(sim):
    portal = webhook_portal(sim)
    bots = [webhook_bot(sim, portal, f"bot_{i}") for i in range(2)]
    sim.inject_fault("acme", "truncated_json")
    results = verify_bots(portal, bots)
    assert [r.status for r in results] == [Status.BAD_RESPONSE] * 2


def test_renamed_portal_batch_is_reposted_and_reported(sim):
    portal = webhook_portal(sim, "oldname")
    bots = [webhook_bot(sim, portal, f"bot_{i}") for i in range(2)]
    sim.rename_portal("oldname", "newname")
    results = verify_bots(portal, bots)
    assert [r.status for r in results] == [Status.OK] * 2
    assert {r.redirect_url for r in results} == {sim.portal_url("newname")}


@pytest.mark.parametrize(
    "outer",
    [
        {"result": {"result": [], "result_error": []}},
        {"result": {"result": {"bot0": {"bot": "nope"}}, "result_error": {"bot1": "text"}}},
        {"result": "nope"},
        {"result": {"result": {"bot0": None}, "result_time": {"bot0": [1, 2]}}},
    ],
)
def test_odd_batch_shapes_never_crash(outer):
    from checks.bitrix24.transport import Answer

    answer = Answer(http_status=200, body=json.dumps(outer).encode(), content_type="application/json")
    results = parse_batch(answer, ["bot0", "bot1"])
    assert results is None or all(r.status == Status.BAD_RESPONSE for r in results)
