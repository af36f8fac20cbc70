"""A bot's health checks (checks.health.bot), the answers they read (checks.bitrix24.outcome) and the
offset guard of the health calls (checks.bitrix24.sidecalls): without I/O, `now` passed in."""

from datetime import UTC, datetime, timedelta

import pytest

from checks.bitrix24.outcome import parse_command_names, parse_event_peek
from checks.bitrix24.sidecalls import OffsetRefused, event_peek_params, refuse_offset
from checks.bitrix24.types import EventPeek
from checks.health.bot import config_changes, describe_changes, find_problems

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
FIELDS = {"id": 456, "code": "support_bot", "type": "bot", "eventMode": "fetch", "language": "de", "isHidden": False}
USERS = [{"id": 1, "active": True}, {"id": 456, "active": True}]


def problems(fields=FIELDS, users=USERS, **kwargs):
    return [(p.check, p.detail) for p in find_problems(fields, users, now=NOW, **kwargs).problems]


def peek(minutes: float, clock: datetime | None = None) -> EventPeek:
    return EventPeek((clock or NOW) - timedelta(minutes=minutes), clock)


def test_a_healthy_bot_has_no_problems():
    assert problems() == []


def test_the_bots_own_user_switched_off_is_a_problem_matched_by_id_not_by_place():
    users = [{"id": 1, "active": False}, {"id": 456, "active": False}]
    assert problems(users=users) == [("user_inactive", "bot user #456 is switched off (active: false)")]
    # Someone else switched off, the bot's own user active: no problem.
    assert problems(users=[{"id": 1, "active": False}, {"id": 456, "active": True}]) == []
    assert problems(users=[{"id": 456, "active": "N"}])[0][0] == "user_inactive"


def test_backlog_past_the_threshold_is_a_problem_with_its_age():
    assert problems(events=peek(14)) == []
    assert problems(events=peek(16)) == [("event_backlog", "oldest pending event is 16 min old (threshold 15 min)")]
    assert problems(events=peek(16), backlog_minutes=30) == []
    health = find_problems(FIELDS, USERS, now=NOW, events=peek(16))
    assert health.event_backlog_s == 960 and health.problems[0].key == "event_backlog"


def test_backlog_past_20_hours_is_critical_and_says_events_will_be_deleted():
    [problem] = find_problems(FIELDS, USERS, now=NOW, events=peek(21 * 60 + 12)).problems
    assert problem.critical and problem.key == "event_backlog:20h"
    assert problem.detail == (
        "oldest pending event is 21 h 12 min old (threshold 15 min); "
        "Bitrix24 deletes events after 24 h without notice (about 2 h 48 min left)"
    )


def test_backlog_age_uses_the_portals_clock_so_skew_changes_nothing():
    portal_clock = NOW - timedelta(minutes=10)  # our clock runs 10 minutes ahead
    assert problems(events=peek(14, portal_clock)) == []


def test_an_empty_queue_or_a_webhook_bot_has_no_backlog():
    assert find_problems(FIELDS, USERS, now=NOW, events=EventPeek(None, NOW)).event_backlog_s == 0
    webhook = {**FIELDS, "eventMode": "webhook"}
    health = find_problems(webhook, USERS, now=NOW, events=peek(600))
    assert health.problems == [] and health.event_backlog_s is None


def test_drift_names_the_field_what_was_expected_and_what_came():
    assert problems(expect={"eventMode": "webhook"}) == [("drift", "eventMode: expected webhook, got fetch")]
    assert problems(expect={"language": "DE", "isHidden": False}) == []  # case and booleans normalised
    assert problems(fields={**FIELDS, "isHidden": "Y"}, expect={"isHidden": True}) == []
    assert problems(expect={"backgroundId": "mint"}) == [("drift", "backgroundId: expected mint, got nothing")]


def test_missing_commands_are_named_and_an_unlisted_run_reports_nothing():
    expect = {"commands": ["help", "/start"]}
    assert problems(expect=expect, command_names=["help"]) == [
        ("commands", "command start is not registered (Command.list has: help)")
    ]
    assert problems(expect=expect, command_names=["/HELP", "start"]) == []
    assert problems(expect=expect, command_names=None) == []


def test_another_id_behind_the_pinned_one_is_reregistered():
    assert problems(pinned_id=456) == []
    assert problems(fields={**FIELDS, "id": 789}, pinned_id=456) == [("reregistered", "id 456 -> 789")]


def test_configuration_changes_skip_what_is_expected():
    baseline = {"language": "de", "eventMode": "fetch", "type": "bot"}
    now = {**FIELDS, "language": "en", "eventMode": "webhook"}
    assert config_changes(baseline, now) == {"eventMode": ["fetch", "webhook"], "language": ["de", "en"]}
    assert config_changes(baseline, now, skip=["eventMode"]) == {"language": ["de", "en"]}
    assert describe_changes({"language": ["de", "en"]}) == "language: de -> en"


def test_event_and_command_answers_are_read_tolerantly():
    answer = {"events": [{"eventId": 17, "date": "2026-12-01T11:30:00+00:00"}], "hasMore": True}
    assert parse_event_peek(answer, {"start": NOW.timestamp()}) == EventPeek(NOW - timedelta(minutes=30), NOW)
    assert parse_event_peek({"events": []}, None) == EventPeek(None, None)
    assert parse_event_peek({"events": "garbage"}, None) is None
    assert parse_event_peek(["not", "a", "mapping"], None) is None
    assert parse_command_names({"commands": [{"command": "help"}, {"title": "no name"}, "x"]}) == ["help"]
    assert parse_command_names({"commands": None}) is None


@pytest.mark.parametrize(
    ("method", "params"),
    [
        ("imbot.v2.Event.get", {"botId": 1, "offset": 5}),
        ("IMBOT.V2.EVENT.GET", {"botId": 1, "OFFSET": 5}),
        ("batch", {"cmd": {"events0": "imbot.v2.Event.get?botId=1&limit=1&offset=5"}}),
        ("batch", {"cmd": ["imbot.v2.event.get?botId=1&Offset=5"]}),
    ],
)
def test_no_request_can_acknowledge_events(method, params):
    with pytest.raises(OffsetRefused):
        refuse_offset(method, params)


def test_the_event_peek_reads_one_event_and_acknowledges_none():
    params = event_peek_params(456, "tok")
    assert params == {"botId": 456, "botToken": "tok", "limit": 1}
    refuse_offset("imbot.v2.Event.get", params)  # passes
    refuse_offset("batch", {"cmd": {"events0": "imbot.v2.Event.get?botId=456&limit=1"}})
