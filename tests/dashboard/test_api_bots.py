"""/api/v1/bots and a portal's bots: state, filters, cursor pages, writes through the portal file's validator."""

from datetime import timedelta

import pytest
from django.utils import timezone

from checks.models import AuditLog, Bot, Verification
from checks.status import Status
from tests.fixtures.api import call
from tests.fixtures.dashboard import add_history, make_portal
from tests.fixtures.history import record_check

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_cache")]


def follow(client, token, first: dict) -> list[dict]:
    rows, page = list(first["results"]), first
    while page["next"]:
        page = client.get(page["next"], headers={"Authorization": f"Bearer {token}"}).json()
        rows += page["results"]
    return rows


@pytest.fixture
def fleet():
    """acme: bot_0 ok with history, bot_1 not found; globex: a degraded fetch-mode bot with a backlog."""
    acme = make_portal("acme", n_bots=2)
    ok_bot, gone = acme.bots.order_by("code")
    add_history(ok_bot, n=5)
    add_history(gone, n=5, fail_last=1)
    globex = make_portal("globex", n_bots=1)
    Bot.objects.filter(portal=globex).update(
        status=Status.DEGRADED,
        status_since=timezone.now(),
        event_backlog_s=1800,
        problems=[{"check": "event_backlog", "detail": "oldest event 30 min old", "key": "event_backlog"}],
    )
    return acme, globex


def test_the_bot_list_answers_results_and_next_with_each_bots_state(client, read_token, fleet):
    response = call(client, "get", "/api/v1/bots", read_token)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"results", "next", "previous"} and body["next"] is None
    bots = {(b["portal"], b["code"]): b for b in body["results"]}
    ok = bots[("acme", "bot_0")]
    assert ok["status"] == "ok" and ok["since"] is not None and ok["id"] is None
    assert ok["counters"] == {"countMessage": 112, "countCommand": 2, "countChat": 14, "countUser": 5}
    assert ok["problems"] == [] and ok["url"] == "/api/v1/portals/acme/bots/bot_0"
    assert bots[("acme", "bot_1")]["status"] == "not_found"
    degraded = bots[("globex", "bot_0")]
    assert degraded["problems"] == [{"check": "event_backlog", "detail": "oldest event 30 min old"}]
    assert degraded["event_backlog_seconds"] == 1800
    assert "s3cret" not in response.content.decode()


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"status": "ok"}, [("acme", "bot_0")]),
        ({"status": "not_found,degraded"}, [("acme", "bot_1"), ("globex", "bot_0")]),
        ({"portal": "globex"}, [("globex", "bot_0")]),
        ({"problem": "event_backlog"}, [("globex", "bot_0")]),
        ({"problem": "drift"}, []),
        ({"portal": "acme", "status": "degraded"}, []),
    ],
)
def test_bots_are_filtered_by_status_portal_and_problem(client, read_token, fleet, query, expected):
    body = call(client, "get", "/api/v1/bots", read_token, **query).json()
    assert sorted((b["portal"], b["code"]) for b in body["results"]) == expected


@pytest.mark.parametrize(
    ("query", "field", "words"),
    [({"status": "fine"}, "status", "unknown status fine"), ({"problem": "slow"}, "problem", "unknown check 'slow'")],
)
def test_an_unknown_filter_value_is_400_naming_the_field(client, read_token, query, field, words):
    response = call(client, "get", "/api/v1/bots", read_token, **query)
    assert response.status_code == 400
    [message] = response.json()[field]
    assert words in message


def test_the_bot_list_is_paged_by_cursor_and_every_bot_comes_once(client, read_token):
    make_portal("acme", n_bots=7)
    first = call(client, "get", "/api/v1/bots", read_token, limit=3).json()
    assert len(first["results"]) == 3 and first["next"]
    codes = [b["code"] for b in follow(client, read_token, first)]
    assert sorted(codes) == [f"bot_{i}" for i in range(7)]


def test_the_bot_list_reads_a_fixed_number_of_queries(client, read_token, django_assert_max_num_queries):
    for i in range(5):
        make_portal(f"p{i}", n_bots=20)
    with django_assert_max_num_queries(4):
        body = call(client, "get", "/api/v1/bots", read_token).json()
    assert len(body["results"]) == 100


def test_a_bot_is_read_by_code_or_by_id(client, read_token, fleet):
    acme, _ = fleet
    Bot.objects.create(portal=acme, bot_id=456, bot_token="t")
    by_code = call(client, "get", "/api/v1/portals/acme/bots/bot_0", read_token).json()
    assert by_code["code"] == "bot_0" and by_code["fields"]["eventMode"] == "fetch"
    by_id = call(client, "get", "/api/v1/portals/acme/bots/456", read_token).json()
    assert (by_id["bot"], by_id["id"]) == ("456", 456)
    assert call(client, "get", "/api/v1/portals/acme/bots/nobody", read_token).status_code == 404


@pytest.mark.usefixtures("fleet")
def test_a_bots_history_is_newest_first_by_cursor_and_filtered_by_status(client, read_token):
    path = "/api/v1/portals/acme/bots/bot_1/verifications"
    first = call(client, "get", path, read_token, limit=2).json()
    rows = follow(client, read_token, first)
    assert len(rows) == 5 and [r["checked_at"] for r in rows] == sorted((r["checked_at"] for r in rows), reverse=True)
    assert rows[0]["status"] == "not_found" and rows[0]["error"] == "BOT_NOT_FOUND" and rows[0]["counters"] is None
    assert rows[1]["counters"]["countMessage"] == 109
    failed = call(client, "get", path, read_token, status="not_found").json()["results"]
    assert len(failed) == 1


def test_a_history_page_stays_right_while_new_rows_arrive(client, read_token, fleet):
    acme, _ = fleet
    bot = acme.bots.get(code="bot_0")
    path = "/api/v1/portals/acme/bots/bot_0/verifications"
    first = call(client, "get", path, read_token, limit=3).json()
    record_check(bot, timezone.now() + timedelta(seconds=1))
    seen = [r["checked_at"] for r in follow(client, read_token, first)]
    assert len(seen) == len(set(seen)) == 5  # the new row is not on the later pages, none repeats


def test_adding_a_bot_goes_through_the_portal_files_validation(client, write_token):
    make_portal("acme", n_bots=0)
    path = "/api/v1/portals/acme/bots"
    bad = call(client, "post", path, write_token, {"code": "new_bot", "expect": {"eventMode": "push"}, "x": 1})
    assert bad.status_code == 400
    assert bad.json() == {
        "x": ["unknown key 'x' (allowed: answer, backlog_minutes, bot_token, code, enabled, expect, id, silence)"],
        "bot_token": ["bot_token is required for webhook portals"],
        "expect.eventMode": ["must be fetch or webhook"],
    }
    good = call(
        client, "post", path, write_token, {"code": "new_bot", "bot_token": "new-s3cret", "backlog_minutes": 30}
    )
    assert good.status_code == 201, good.content
    assert good.json()["code"] == "new_bot" and "new-s3cret" not in good.content.decode()
    bot = Bot.objects.get(code="new_bot")
    assert (bot.bot_token, bot.backlog_minutes) == ("new-s3cret", 30)
    log = AuditLog.objects.get(action="add bot")
    assert log.object_repr == "new_bot on acme" and log.changes["bot token changed"] is True
    again = call(client, "post", path, write_token, {"code": "new_bot", "enabled": False})
    assert again.status_code == 200 and Bot.objects.get(code="new_bot").enabled is False


def test_changing_a_bot_keeps_its_token_and_refuses_a_new_code(client, write_token):
    make_portal("acme", n_bots=1)
    path = "/api/v1/portals/acme/bots/bot_0"
    changed = call(client, "patch", path, write_token, {"enabled": False, "expect": {"language": "de"}})
    assert changed.status_code == 200, changed.content
    bot = Bot.objects.get()
    assert (bot.enabled, bot.expect, bot.bot_token) == (False, {"language": "de"}, "s3cret-token-0")
    renamed = call(client, "patch", path, write_token, {"code": "other"})
    assert renamed.status_code == 400 and list(renamed.json()) == ["code"]
    assert AuditLog.objects.filter(action="edit bot").count() == 1


def test_deleting_a_bot_removes_it_and_its_history(client, write_token, fleet):
    response = call(client, "delete", "/api/v1/portals/acme/bots/bot_0", write_token)
    assert response.status_code == 204
    assert not Bot.objects.filter(code="bot_0", portal__name="acme").exists()
    assert not Verification.objects.filter(bot__code="bot_0", portal__name="acme").exists()
    assert AuditLog.objects.get(action="delete bot").object_repr == "bot_0 on acme"
