"""What list pages and the history table read of the packed checks: heartbeat bars, counters a
day ago, a portal's newest checks, and the history table's pages across both of its stores."""

from datetime import timedelta

import pytest
from django.core.paginator import Paginator
from django.utils import timezone

from checks.history import read as history_read
from checks.history.lists import counters_before, portal_recent, recent_beats
from checks.models import Bot, VerificationChange
from checks.status import Status
from tests.fixtures.api import call
from tests.fixtures.dashboard import make_portal
from tests.fixtures.history import checks_of, record_check

pytestmark = pytest.mark.django_db


def history_of(bot: Bot, start, every: timedelta, n: int, fail: set[int] = frozenset()) -> list:
    """n checks from `start`, counters counting them; the checks numbered in `fail` not found."""
    return [
        record_check(bot, start + every * i, Status.NOT_FOUND if i in fail else Status.OK, count=i) for i in range(n)
    ]


def test_the_bars_are_the_last_thirty_checks_across_the_open_hour_and_the_packed_ones():
    portal = make_portal("acme", n_bots=3)
    often, rarely, never = portal.bots.order_by("code")
    now = timezone.now()
    history_of(often, now - timedelta(hours=5), timedelta(minutes=5), 60, fail={58})
    history_of(rarely, now - timedelta(hours=40), timedelta(hours=1), 40)  # one check an hour
    bots = list(Bot.objects.order_by("code"))
    beats = recent_beats(bots)
    assert len(beats[often.pk]) == 30 and len(beats[rarely.pk]) == 30 and beats[never.pk] == []
    expected = [c.checked_at.timestamp() for c in checks_of(often)[-30:]]
    assert [b["at"] for b in beats[often.pk]] == expected
    assert [b["status"] for b in beats[often.pk]][-3:] == ["ok", "not_found", "ok"]
    assert [b["at"] for b in beats[rarely.pk]] == [c.checked_at.timestamp() for c in checks_of(rarely)[-30:]]
    assert recent_beats(bots, limit=5)[often.pk] == beats[often.pk][-5:]


def test_counters_a_day_ago_are_those_of_the_last_check_before_then():
    portal = make_portal("acme", n_bots=2)
    bot, quiet = portal.bots.order_by("code")
    now = timezone.now()
    history_of(bot, now - timedelta(hours=26), timedelta(minutes=10), 14, fail={12, 13})
    before = counters_before(list(Bot.objects.order_by("code")), now - timedelta(hours=24))
    # Checks 0-11 were before the moment (the last two failed, without counters).
    assert before == {bot.pk: {"count_message": 11, "count_command": 1, "count_chat": 2, "count_user": 3}}
    assert quiet.pk not in before


def test_a_portals_recent_checks_are_its_newest_whatever_store_they_are_in():
    portal = make_portal("acme", n_bots=3)
    busy, small, other = portal.bots.order_by("code")
    now = timezone.now()
    history_of(busy, now - timedelta(hours=3), timedelta(minutes=20), 9, fail={8})
    history_of(small, now - timedelta(hours=2, minutes=55), timedelta(minutes=30), 6)
    history_of(Bot.objects.create(portal=make_portal("elsewhere", n_bots=0), code="x", bot_token="t"),
               now - timedelta(minutes=30), timedelta(minutes=1), 20)  # fmt: skip
    recent = portal_recent(portal.pk, now - timedelta(hours=6), limit=10)
    everything = sorted(((c.checked_at, pk) for pk in (busy.pk, small.pk) for c in checks_of(Bot(pk=pk))), reverse=True)
    assert [(r.checked_at, r.bot_id) for r in recent] == everything[:10]
    assert recent[0].bot.label == "bot_0" and recent[0].status == "not_found"
    assert recent[0].error_code == "BOT_NOT_FOUND" and all(r.error_code == "" for r in recent[1:])
    assert {r.bot.label for r in recent} == {"bot_0", "bot_1"} and other.pk not in {r.bot_id for r in recent}
    assert len(portal_recent(portal.pk, now - timedelta(hours=6), limit=100)) == 15
    assert len(portal_recent(portal.pk, now - timedelta(minutes=90), limit=100)) == 7


def test_the_history_table_pages_through_the_packed_checks_into_the_changes_kept_before():
    portal = make_portal("acme", n_bots=1)
    bot = portal.bots.get()
    now = timezone.now()
    # Changes kept from days whose raw history is gone: a failure and its recovery.
    for days, status in ((3, Status.NOT_FOUND), (2, Status.OK)):
        VerificationChange.objects.create(
            bot=bot, portal=portal, verification_id=days, checked_at=now - timedelta(days=days), status=status
        )
    history_of(bot, now - timedelta(hours=4), timedelta(minutes=10), 23, fail={10, 11})
    rows = history_read.history(bot.pk)
    assert rows.count() == 25
    page = Paginator(rows, 10).get_page(3)
    assert [r.status for r in page.object_list] == ["ok", "ok", "ok", "ok", "not_found"]
    assert page.object_list[-1].checked_at == now - timedelta(days=3)
    shown = list(rows)
    assert [r.checked_at for r in shown] == sorted((r.checked_at for r in shown), reverse=True)
    failed = list(history_read.history(bot.pk, "failed"))
    assert [r.error_code for r in failed] == ["BOT_NOT_FOUND", "BOT_NOT_FOUND", ""]
    assert rows[0].count_message == 22 and rows[0].response_format == "extended" and rows[0].problems == []


def test_the_apis_history_pages_go_forth_and_back_by_cursor(client, read_token):
    portal = make_portal("acme", n_bots=1)
    bot = portal.bots.get()
    now = timezone.now()
    VerificationChange.objects.create(
        bot=bot, portal=portal, verification_id=1, checked_at=now - timedelta(days=2), status=Status.NOT_FOUND
    )
    history_of(bot, now - timedelta(hours=2), timedelta(minutes=10), 11, fail={3})
    path = "/api/v1/portals/acme/bots/bot_0/verifications"
    pages = [call(client, "get", path, read_token, limit=5).json()]
    while pages[-1]["next"]:
        pages.append(client.get(pages[-1]["next"], HTTP_AUTHORIZATION=f"Bearer {read_token}").json())
    assert [len(p["results"]) for p in pages] == [5, 5, 2] and pages[0]["previous"] is None
    times = [r["checked_at"] for p in pages for r in p["results"]]
    assert times == sorted(times, reverse=True) and len(set(times)) == 12
    assert pages[-1]["results"][-1]["status"] == "not_found"  # the change kept from two days ago
    back = client.get(pages[2]["previous"], HTTP_AUTHORIZATION=f"Bearer {read_token}").json()
    assert back["results"] == pages[1]["results"] and back["next"] and back["previous"]
    first = client.get(back["previous"], HTTP_AUTHORIZATION=f"Bearer {read_token}").json()
    assert first["results"] == pages[0]["results"] and first["previous"] is None
    failed = call(client, "get", path, read_token, status="not_found").json()["results"]
    assert [r["error"] for r in failed] == ["BOT_NOT_FOUND", None]
    bad = call(client, "get", path, read_token, cursor="not-a-cursor")
    assert bad.status_code == 404
