"""The Bitrix24 client over real HTTP against the simulator: every status of docs/statuses.md."""
# ruff: noqa: F811 - the fixtures imported from tests.bitrix24.helpers are parameters here

import socket

import pytest
from django.utils import timezone

from checks.bitrix24.client import Bitrix24Client, verify_bots
from checks.health.bot import assess
from checks.models import Bot, Portal
from checks.status import ResponseFormat, Status
from tests.bitrix24.helpers import (  # noqa: F401 - fixtures
    WEBHOOK_CODE,
    fast,
    sim,
    webhook_bot,
    webhook_portal,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast")]


def verify_with_fault(sim, kind: str, **fault):
    """(bot, result) of one call to the "acme" portal answering with an injected fault."""
    portal = webhook_portal(sim)
    bot = webhook_bot(sim, portal, "support_bot")
    sim.inject_fault("acme", kind, **fault)
    return bot, verify_one(portal, bot)


def verify_one(portal, bot, **kwargs):
    [result] = verify_bots(portal, [bot], **kwargs)
    return result


def test_extended_answer_is_ok_with_counters_fields_users_and_time(sim):
    portal = webhook_portal(sim)
    counters = {"countMessage": 150, "countCommand": 3, "countChat": 12, "countUser": 45}
    bot = webhook_bot(sim, portal, "support_bot", counters=counters, growth=False, event_mode="fetch")
    result = verify_one(portal, bot)
    assert result.status == Status.OK
    assert result.bot_pk == bot.pk
    assert result.response_format == ResponseFormat.EXTENDED
    assert result.counters == counters
    assert result.fields["code"] == "support_bot"
    assert result.fields["eventMode"] == "fetch"
    assert result.users and result.users[0]["bot"] is True
    assert {"duration", "processing", "operating", "operating_reset_at"} <= set(result.time)
    assert result.http_status == 200
    assert result.error_code is None
    # A fetch-mode bot's queue is looked at in the same run (the event_backlog check).
    assert sim.stats("acme")["methods"] == {"imbot.v2.bot.get": 1, "imbot.v2.event.get": 1}
    # The client judges nothing; the verdict on its answer (checks.health.bot) finds an empty queue.
    assert result.event_backlog_s is None
    assess(result, bot, timezone.now())
    assert result.event_backlog_s == 0


def test_bot_id_wins_over_code(sim):
    portal = webhook_portal(sim)
    sim.add_bot("acme", code="first", bot_id=501, bot_token="t-first-000")
    sim.add_bot("acme", code="second", bot_id=502, bot_token="t-second-00")
    bot = Bot.objects.create(portal=portal, code="first", bot_id=502, bot_token="t-second-00")
    result = verify_one(portal, bot)
    assert result.status == Status.OK
    assert result.fields["id"] == 502
    assert result.fields["code"] == "second"


def test_removed_bot_is_not_found(sim):
    portal = webhook_portal(sim)
    bot = webhook_bot(sim, portal, "support_bot")
    sim.remove_bot("acme", "support_bot")
    result = verify_one(portal, bot)
    assert (result.status, result.error_code, result.http_status) == (Status.NOT_FOUND, "BOT_NOT_FOUND", 400)


def test_rotated_bot_token_gives_brief_format_not_owner(sim):
    portal = webhook_portal(sim)
    bot = webhook_bot(sim, portal, "support_bot")
    sim.rotate_bot_token("acme", "support_bot", "rotated-token-999")
    result = verify_one(portal, bot)
    assert result.status == Status.NOT_OWNER
    assert result.response_format == ResponseFormat.BRIEF
    assert result.counters is None
    assert result.error_code is None


def test_missing_bot_token_is_misconfigured(sim):
    portal = webhook_portal(sim)
    sim.add_bot("acme", code="support_bot", bot_token="whatever-tok")
    bot = Bot.objects.create(portal=portal, code="support_bot", bot_token="")
    result = verify_one(portal, bot)
    assert (result.status, result.error_code) == (Status.MISCONFIGURED, "BOT_TOKEN_NOT_SPECIFIED")


def test_wrong_webhook_code_is_auth_failed(sim):
    portal = webhook_portal(sim)
    bot = webhook_bot(sim, portal, "support_bot")
    Portal.objects.filter(pk=portal.pk).update(webhook_code="wrong-code-xyz")
    portal.refresh_from_db()
    result = verify_one(portal, bot)
    assert (result.status, result.error_code, result.http_status) == (Status.AUTH_FAILED, "NO_AUTH_FOUND", 401)


def test_plan_without_rest_is_portal_unavailable(sim):
    portal = webhook_portal(sim, rest_available=False)
    bot = webhook_bot(sim, portal, "support_bot")
    result = verify_one(portal, bot)
    assert (result.status, result.error_code, result.http_status) == (Status.PORTAL_UNAVAILABLE, "ACCESS_DENIED", 403)


# Faults the simulator injects, with what the client must make of them.
FAULT_ROWS = [
    ("PARAMS_REQUIRED", Status.MISCONFIGURED, "PARAMS_REQUIRED", 400),
    ("INVALID_REQUEST", Status.MISCONFIGURED, "INVALID_REQUEST", 400),
    ("ERROR_METHOD_NOT_FOUND", Status.MISCONFIGURED, "ERROR_METHOD_NOT_FOUND", 404),
    ("NO_AUTH_FOUND", Status.AUTH_FAILED, "NO_AUTH_FOUND", 401),
    ("INVALID_CREDENTIALS", Status.AUTH_FAILED, "INVALID_CREDENTIALS", 403),
    ("insufficient_scope", Status.AUTH_FAILED, "insufficient_scope", 403),
    ("user_access_error", Status.AUTH_FAILED, "user_access_error", 403),
    ("invalid_token", Status.AUTH_FAILED, "invalid_token", 401),
    ("ACCESS_DENIED", Status.PORTAL_UNAVAILABLE, "ACCESS_DENIED", 403),
    ("PORTAL_DELETED", Status.PORTAL_UNAVAILABLE, "PORTAL_DELETED", 500),
    ("OVERLOAD_LIMIT", Status.PORTAL_UNAVAILABLE, "OVERLOAD_LIMIT", 503),
    ("QUERY_LIMIT_EXCEEDED", Status.RATE_LIMITED, "QUERY_LIMIT_EXCEEDED", 503),
    ("OPERATION_TIME_LIMIT", Status.RATE_LIMITED, "OPERATION_TIME_LIMIT", 429),
    ("INTERNAL_SERVER_ERROR", Status.SERVER_ERROR, "INTERNAL_SERVER_ERROR", 500),
    ("ERROR_UNEXPECTED_ANSWER", Status.SERVER_ERROR, "ERROR_UNEXPECTED_ANSWER", 500),
    ("html_500", Status.SERVER_ERROR, None, 500),
    ("html_502", Status.SERVER_ERROR, None, 502),
    ("not_json", Status.BAD_RESPONSE, None, 200),
    ("no_result_bot", Status.BAD_RESPONSE, None, 200),
    ("truncated_json", Status.BAD_RESPONSE, None, 200),
    ("oversized", Status.BAD_RESPONSE, None, 200),
    ("BOT_OWNERSHIP_ERROR", Status.NOT_OWNER, "BOT_OWNERSHIP_ERROR", 400),  # a rotated botToken
    ("ERROR_MANIFEST_IS_NOT_AVAILABLE", Status.ERROR, "ERROR_MANIFEST_IS_NOT_AVAILABLE", 404),
]


@pytest.mark.parametrize(("kind", "status", "code", "http_status"), FAULT_ROWS)
def test_injected_fault_is_classified(sim, kind, status, code, http_status):
    bot, result = verify_with_fault(sim, kind)
    assert (result.status, result.error_code, result.http_status) == (status, code, http_status)
    assert result.bot_pk == bot.pk
    assert result.error_description


def test_an_answer_too_large_to_read_is_described_as_such(sim):
    _, result = verify_with_fault(sim, "oversized")
    assert result.status == Status.BAD_RESPONSE
    assert result.error_description == "HTTP 200: answer larger than 2 MB, not read to the end"


@pytest.mark.parametrize(
    ("code", "http_status", "status"),
    [
        ("BRAND_NEW_CODE", 400, Status.ERROR),
        ("BRAND_NEW_CODE", 401, Status.AUTH_FAILED),
        ("BRAND_NEW_CODE", 403, Status.AUTH_FAILED),
        ("BRAND_NEW_CODE", 429, Status.RATE_LIMITED),
        ("BRAND_NEW_CODE", 503, Status.RATE_LIMITED),
        ("BRAND_NEW_CODE", 502, Status.SERVER_ERROR),
    ],
)
def test_unknown_code_falls_back_on_http_status(sim, code, http_status, status):
    _, result = verify_with_fault(sim, "custom", code=code, http_status=http_status, description="Something new")
    assert (result.status, result.error_code, result.http_status) == (status, code, http_status)
    assert result.error_description.startswith("Something new")


def test_transient_failures_are_retried_a_bounded_number_of_times(sim):
    _, result = verify_with_fault(sim, "QUERY_LIMIT_EXCEEDED")
    assert result.status == Status.RATE_LIMITED
    assert sim.stats("acme")["requests"] == 3  # the call and two retries
    assert result.attempts == 3
    assert result.error_description == "Too many requests (after 3 attempts)"


@pytest.mark.parametrize("kind", ["QUERY_LIMIT_EXCEEDED", "INTERNAL_SERVER_ERROR", "html_502", "reset"])
def test_one_transient_failure_is_cured_by_a_retry(sim, kind):
    _, result = verify_with_fault(sim, kind, times=1)
    assert result.status == Status.OK
    assert result.attempts == 2
    assert sim.stats("acme")["requests"] == 2


def test_non_transient_errors_are_not_retried(sim):
    portal = webhook_portal(sim)
    bot = webhook_bot(sim, portal, "support_bot")
    sim.inject_fault("acme", "OVERLOAD_LIMIT")
    assert verify_one(portal, bot).status == Status.PORTAL_UNAVAILABLE
    assert sim.stats("acme")["requests"] == 1


def test_operation_time_limit_blocks_the_portal_until_reset(sim):
    portal = webhook_portal(sim)
    bot = webhook_bot(sim, portal, "support_bot")
    ok = verify_one(portal, bot)
    assert ok.status == Status.OK
    sim.inject_fault("acme", "OPERATION_TIME_LIMIT", times=1)
    blocked = verify_one(portal, bot)
    assert (blocked.status, blocked.error_code) == (Status.RATE_LIMITED, "OPERATION_TIME_LIMIT")
    portal.refresh_from_db()
    assert portal.blocked_until is not None and portal.blocked_until > timezone.now()
    requests_so_far = sim.stats("acme")["requests"]
    # While blocked, no call at all, even though the fault is gone.
    again = verify_one(Portal.objects.get(pk=portal.pk), bot)
    assert (again.status, again.error_code, again.http_status) == (Status.RATE_LIMITED, "OPERATION_TIME_LIMIT", None)
    assert "not calling the portal before" in again.error_description
    assert sim.stats("acme")["requests"] == requests_so_far


def test_operation_time_limit_without_earlier_success_blocks_about_ten_minutes(sim):
    portal = webhook_portal(sim)
    bot = webhook_bot(sim, portal, "support_bot")
    sim.inject_fault("acme", "OPERATION_TIME_LIMIT", times=1)
    verify_one(portal, bot)
    portal.refresh_from_db()
    blocked_for = (portal.blocked_until - timezone.now()).total_seconds()
    assert 590 < blocked_for <= 600


def test_refused_connection_is_unreachable(fast):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    portal = Portal.objects.create(
        name="gone", url=f"http://127.0.0.1:{port}/gone", webhook_user_id=1, webhook_code=WEBHOOK_CODE, pace_rate=100
    )
    bot = Bot.objects.create(portal=portal, code="b", bot_token="tok-b-secret")
    result = verify_one(portal, bot)
    assert result.status == Status.UNREACHABLE
    assert result.error_description.startswith("connection refused")
    assert f"127.0.0.1:{port}" in result.error_description


def test_unknown_host_is_unreachable_dns(fast):
    portal = Portal.objects.create(
        name="nxdomain", url="https://botwatch-test.invalid", webhook_user_id=1, webhook_code=WEBHOOK_CODE
    )
    bot = Bot.objects.create(portal=portal, code="b", bot_token="tok-b-secret")
    result = verify_one(portal, bot)
    assert result.status == Status.UNREACHABLE
    assert result.error_description.startswith("DNS failure")


def test_tls_failure_is_unreachable(sim):
    # The simulator speaks plain HTTP: a TLS handshake against it fails.
    portal = webhook_portal(sim)
    Portal.objects.filter(pk=portal.pk).update(url=sim.portal_url("acme").replace("http://", "https://"))
    portal.refresh_from_db()
    bot = webhook_bot(sim, portal, "support_bot")
    result = verify_one(portal, bot)
    assert result.status == Status.UNREACHABLE
    assert result.error_description.startswith("TLS failure")


def test_slow_portal_is_unreachable_timeout(sim, fast):
    fast.BITRIX24_TIMEOUT = 0.3
    _, result = verify_with_fault(sim, "timeout", sleep_s=1.0)
    assert result.status == Status.UNREACHABLE
    assert result.error_description.startswith("timeout")


def test_connection_reset_every_time_is_unreachable(sim):
    _, result = verify_with_fault(sim, "reset")
    assert result.status == Status.UNREACHABLE
    assert result.error_description.startswith("connection reset")


def test_plain_http_portal_is_misconfigured_without_a_request(sim, fast):
    fast.BOTWATCH_ALLOW_HTTP = False
    portal = webhook_portal(sim)
    bot = webhook_bot(sim, portal, "support_bot")
    result = verify_one(portal, bot)
    assert result.status == Status.MISCONFIGURED
    assert "HTTPS" in result.error_description and "BOTWATCH_ALLOW_HTTP" in result.error_description
    assert sim.stats("acme")["requests"] == 0


def test_webhook_portal_without_code_is_misconfigured(fast):
    portal = Portal.objects.create(name="nocode", url="https://x.example.com", webhook_user_id=1)
    bot = Bot.objects.create(portal=portal, code="b", bot_token="tok-b-secret")
    result = verify_one(portal, bot)
    assert result.status == Status.MISCONFIGURED
    assert "webhook" in result.error_description


def test_renamed_portal_is_followed_once_and_reported(sim):
    portal = webhook_portal(sim, "oldname")
    bot = webhook_bot(sim, portal, "support_bot")
    sim.rename_portal("oldname", "newname")
    result = verify_one(portal, bot)
    assert result.status == Status.OK
    assert result.redirect_url == sim.portal_url("newname")
    portal.refresh_from_db()
    assert portal.redirected_to == sim.portal_url("newname")
    assert portal.url == sim.portal_url("oldname")  # the operator updates it
    stats = sim.stats("newname")
    assert stats["by_http_status"] == {"200": 1, "302": 1}


def test_test_connection_on_unsaved_objects_touches_no_database(sim, django_assert_num_queries):
    portal = webhook_portal(sim, save=False)
    bot = webhook_bot(sim, portal, "support_bot", save=False)
    with django_assert_num_queries(0):
        result = verify_one(portal, bot, persist=False)
    assert result.status == Status.OK
    assert result.bot_pk is None


def test_persist_false_on_saved_portal_writes_nothing(sim, django_assert_num_queries):
    portal = webhook_portal(sim, "oldname")
    bot = webhook_bot(sim, portal, "support_bot")
    sim.rename_portal("oldname", "newname")
    with django_assert_num_queries(0):
        result = verify_one(portal, bot, persist=False)
    assert result.redirect_url == sim.portal_url("newname")
    portal.refresh_from_db()
    assert portal.redirected_to == ""
    assert portal.pace_next_at is None


def test_bots_of_another_portal_are_a_programming_error(sim):
    portal = webhook_portal(sim)
    other = webhook_portal(sim, "other")
    bot = webhook_bot(sim, other, "support_bot")
    with pytest.raises(ValueError, match="another portal"):
        verify_bots(portal, [bot])


def test_client_object_verifies_one_bot(sim):
    portal = webhook_portal(sim)
    bot = webhook_bot(sim, portal, "support_bot")
    result = Bitrix24Client(portal).verify_bot(bot)
    assert result.status == Status.OK


def test_non_https_address_is_misconfigured_without_echoing_credentials(fast):
    portal = Portal(name="ftp", url="ftp://user:pa55word@files.example.com/x", webhook_user_id=1, webhook_code="c0de")
    bot = Bot(portal=portal, code="b", bot_token="tok-b-secret")
    result = verify_one(portal, bot, persist=False)
    assert result.status == Status.MISCONFIGURED
    assert "files.example.com" in result.error_description
    assert "pa55word" not in result.error_description


def test_empty_bot_list_makes_no_call(sim):
    portal = webhook_portal(sim)
    assert verify_bots(portal, []) == []
    assert sim.stats("acme")["requests"] == 0
