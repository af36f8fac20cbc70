"""Every check packed per bot and hour: 36 bytes an entry, the open hour on the bot's row, whole
verification rows only for the checks with something to say, and the per-portal tallies."""

import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connections

from checks.engine.recording import build_verification, write_results
from checks.engine.runs import Run
from checks.history import checklog, days, hours
from checks.history.tally import last_recorded_at, verification_totals
from checks.models import Bot, CheckHour, CheckTally, Portal, Verification
from checks.status import Status
from tests.fixtures.history import checks_of, record_check, result_for

T0 = datetime(2026, 6, 15, 10, 2, tzinfo=UTC)


@pytest.fixture
def bot(db):
    portal = Portal.objects.create(name="acme", url="https://acme.example", webhook_user_id=1, webhook_code="k")
    return Bot.objects.create(portal=portal, code="alpha", bot_token="t")


def test_an_entry_keeps_what_the_history_shows_of_a_check():
    hour = datetime(2026, 6, 15, 10, tzinfo=UTC)
    at = hour + timedelta(minutes=7, seconds=3, microseconds=123456)
    data = checklog.encode(
        hour=hour, checked_at=at, slot=at - timedelta(seconds=4), status=Status.DEGRADED, manual=True,
        http_status=200, duration_ms=187, event_backlog_s=1200, counters=(5012, 3, 40, 9),
    )  # fmt: skip
    assert len(data) == checklog.SIZE == 36
    (check,) = checklog.decode(data, hour)
    assert check.checked_at == at.replace(microsecond=123000)
    assert check.slot == check.checked_at - timedelta(seconds=4)
    assert (check.status, check.manual, check.by_portal, check.http_status) == ("degraded", True, False, 200)
    assert (check.duration_ms, check.event_backlog_s, check.counters) == (187, 1200, (5012, 3, 40, 9))
    blank = checklog.decode(checklog.encode(hour=hour, checked_at=at, slot=at, status=Status.UNREACHABLE), hour)[0]
    assert (blank.http_status, blank.event_backlog_s, blank.counters, blank.ok) == (None, None, None, False)


def test_times_come_back_as_their_millisecond():
    hour = datetime(2026, 6, 15, 10, tzinfo=UTC)
    at, slot = hour + timedelta(seconds=5, microseconds=549700), hour + timedelta(seconds=2, microseconds=548900)
    (check,) = checklog.decode(checklog.encode(hour=hour, checked_at=at, slot=slot, status=Status.OK), hour)
    assert (check.checked_at, check.slot) == (at.replace(microsecond=549000), slot.replace(microsecond=548000))
    assert checklog.moment_key(check.checked_at) == checklog.moment_key(at)


def test_status_numbers_never_move():
    # Stored entries keep their numbers for good: new statuses go at the end.
    assert [str(s) for s in checklog.STATUS_CODES] == [
        "ok", "not_found", "not_owner", "degraded", "auth_failed", "misconfigured", "portal_unavailable",
        "rate_limited", "server_error", "unreachable", "bad_response", "error",
    ]  # fmt: skip
    assert set(checklog.STATUS_CODES) == set(Status)


def test_counters_too_large_for_an_entry_keep_the_check_whole(bot):
    assert checklog.storable((1, 2, 3, checklog.LARGEST)) and not checklog.storable((1, 2, 3, checklog.LARGEST + 1))
    record_check(bot, T0, count=5)
    big = {"countMessage": 2**40, "countCommand": 1, "countChat": 2, "countUser": 3}
    row = record_check(bot, T0 + timedelta(minutes=5), counters=big)
    assert row.pk is not None and Verification.objects.get(pk=row.pk).count_message == 2**40
    assert checks_of(bot)[-1].counters is None  # the entry says "see the row"


def test_steady_ok_checks_are_entries_only_and_changes_are_whole_rows(bot):
    first = record_check(bot, T0, count=1)
    steady = [record_check(bot, T0 + timedelta(minutes=5 * i), count=1 + i) for i in range(1, 6)]
    failed = record_check(bot, T0 + timedelta(minutes=30), Status.NOT_FOUND)
    again = record_check(bot, T0 + timedelta(minutes=35), Status.NOT_FOUND)
    back = record_check(bot, T0 + timedelta(minutes=40), count=9)
    manual = record_check(bot, T0 + timedelta(minutes=45), count=9, manual=True)
    assert first.pk and failed.pk and again.pk and back.pk and manual.pk
    assert all(row.pk is None for row in steady)
    assert Verification.objects.filter(bot=bot).count() == 5
    checks = checks_of(bot)
    assert len(checks) == 10
    assert [c.status for c in checks] == ["ok"] * 6 + ["not_found"] * 2 + ["ok"] * 2
    assert [c.counters[0] if c.counters else None for c in checks][:6] == [1, 2, 3, 4, 5, 6]
    assert checks[-1].manual and not checks[-2].manual
    bot.refresh_from_db()
    # Everything is still in the open hour on the bot's row; alerting points at the newest whole row.
    assert bot.hour_start == T0.replace(minute=0) and checklog.count(bot.hour_checks) == 10
    assert bot.last_verification_id == manual.pk and bot.last_ok_verification_id == manual.pk
    assert (bot.status, bot.count_message, bot.consecutive_failures) == ("ok", 9, 0)


def test_a_check_in_a_new_hour_moves_the_finished_one_into_its_row(bot):
    for minute in (2, 20, 58):
        record_check(bot, T0.replace(minute=minute), count=minute)
    record_check(bot, T0.replace(hour=11, minute=3), count=70)
    (row,) = CheckHour.objects.filter(bot=bot)
    assert row.hour == T0.replace(minute=0)
    assert [c.counters[0] for c in checklog.decode(row.data, row.hour)] == [2, 20, 58]
    bot.refresh_from_db()
    assert bot.hour_start == T0.replace(hour=11, minute=0) and checklog.count(bot.hour_checks) == 1
    assert [c.checked_at.minute for c in checks_of(bot)] == [2, 20, 58, 3]


def test_a_full_open_hour_moves_on_and_its_hour_row_grows(bot):
    n = checklog.OPEN_HOUR_MAX + 10
    for i in range(n):
        record_check(bot, T0.replace(minute=0) + timedelta(seconds=30 * i), count=i)
    (row,) = CheckHour.objects.filter(bot=bot)
    assert checklog.count(row.data) == checklog.OPEN_HOUR_MAX
    bot.refresh_from_db()
    assert checklog.count(bot.hour_checks) == 10
    record_check(bot, T0.replace(hour=11, minute=1), count=n)
    row = CheckHour.objects.get(bot=bot, hour=T0.replace(minute=0))
    assert [c.counters[0] for c in checklog.decode(row.data, row.hour)] == list(range(n))


def test_a_worker_whose_clock_is_behind_appends_to_the_hour_already_stored(bot):
    record_check(bot, T0.replace(minute=59, second=58), count=1)
    record_check(bot, T0.replace(hour=11, minute=0, second=1), count=2)  # a clock a little ahead
    record_check(bot, T0.replace(minute=59, second=59), count=3)  # one a little behind: the old hour again
    record_check(bot, T0.replace(hour=11, minute=5), count=4)
    stored = {row.hour: [c.counters[0] for c in checklog.decode(row.data, row.hour)] for row in CheckHour.objects.all()}
    assert stored == {T0.replace(minute=0): [1, 3], T0.replace(hour=11, minute=0): [2]}
    assert [c.counters[0] for c in checks_of(bot)] == [1, 3, 2, 4]  # in time order


def test_a_check_alerting_must_see_is_written_whole_even_when_the_run_read_an_old_state(bot):
    record_check(bot, T0, count=1)
    # The run read the bot while it was ok; a manual check found it missing meanwhile.
    stale = Bot.objects.select_related("portal").get(pk=bot.pk)
    record_check(bot, T0 + timedelta(minutes=1), Status.NOT_FOUND, manual=True)
    result = result_for(stale, count=2)
    run = Run(portal=stale.portal, bots=[stale], slots={bot.pk: T0 + timedelta(minutes=2)}, token=None, manual=False)
    row = build_verification(run, stale, result, T0 + timedelta(minutes=2))
    assert not hours.is_detailed(row)  # by what the run read: nothing to say
    written, alerting, _ = write_results(run, [row], [result], T0 + timedelta(minutes=2))
    assert written[0].pk is not None and alerting == [written[0].pk]
    assert Verification.objects.get(pk=written[0].pk).status == Status.OK


def test_the_hourly_job_closes_the_hours_of_bots_no_longer_checked(bot):
    record_check(bot, T0, count=1)
    assert hours.close_idle_hours(T0 + timedelta(minutes=59), timedelta(minutes=2)) == 0  # not settled
    assert hours.close_idle_hours(T0 + timedelta(minutes=63), timedelta(minutes=2)) == 1
    bot.refresh_from_db()
    assert bot.hour_start is None and bytes(bot.hour_checks) == b""
    assert [c.counters[0] for c in checks_of(bot)] == [1]
    record_check(bot, T0 + timedelta(minutes=70), count=2)
    assert [c.counters[0] for c in checks_of(bot)] == [1, 2]


def test_each_run_counts_its_checks_into_its_portals_tally(bot):
    other = Portal.objects.create(name="other", url="https://o.example", webhook_user_id=1, webhook_code="k")
    elsewhere = Bot.objects.create(portal=other, code="beta", bot_token="t")
    for i in range(3):
        record_check(bot, T0 + timedelta(minutes=i), count=i)
    record_check(bot, T0 + timedelta(minutes=5), Status.NOT_FOUND)
    record_check(elsewhere, T0 + timedelta(minutes=7), Status.UNREACHABLE)
    assert verification_totals() == {"ok": 3, "not_found": 1, "unreachable": 1}
    assert last_recorded_at() == T0 + timedelta(minutes=7)
    other.delete()  # a counter never goes down: the deleted portal's checks stay counted
    assert verification_totals() == {"ok": 3, "not_found": 1, "unreachable": 1}
    assert CheckTally.objects.get(portal_id=bot.portal_id).counts == {"ok": 3, "not_found": 1}


def test_an_hour_is_the_local_one(bot, settings):
    settings.TIME_ZONE = "Asia/Kolkata"  # UTC+5:30: local hours start at half past, UTC
    record_check(bot, datetime(2026, 6, 15, 10, 20, tzinfo=UTC), count=1)
    record_check(bot, datetime(2026, 6, 15, 10, 40, tzinfo=UTC), count=2)
    (row,) = CheckHour.objects.filter(bot=bot)
    assert row.hour == datetime(2026, 6, 15, 9, 30, tzinfo=UTC)
    assert days.hour_start(datetime(2026, 6, 15, 10, 40, tzinfo=UTC)) == datetime(2026, 6, 15, 10, 30, tzinfo=UTC)


@pytest.mark.django_db(transaction=True)
def test_concurrent_runs_of_one_bot_lose_no_check(bot):
    """Two runs of the same bot record at the same moments, across an hour boundary, from two
    connections: every check is kept exactly once (the statements queue on the portal's and the
    bot's row locks, and append to what the other committed)."""
    rounds, start = 40, T0.replace(minute=59, second=50)
    barrier = threading.Barrier(2)
    errors = []

    def worker(offset_ms: int, manual: bool) -> None:
        try:
            for i in range(rounds):
                barrier.wait()
                at = start + timedelta(milliseconds=500 * i + offset_ms)
                record_check(bot, at, count=2 * i + (offset_ms > 0), manual=manual)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(0, False)), threading.Thread(target=worker, args=(1, True))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    counted = sorted(c.counters[0] for c in checks_of(bot))
    assert counted == list(range(2 * rounds))
    assert CheckHour.objects.filter(bot=bot).count() >= 1  # the hour boundary was crossed
    assert verification_totals() == {"ok": 2 * rounds}


def test_a_deleted_bot_takes_its_packed_hours_along(bot):
    record_check(bot, T0, count=1)
    record_check(bot, T0 + timedelta(hours=1), count=2)
    assert CheckHour.objects.filter(bot=bot).count() == 1
    Bot.objects.filter(pk=bot.pk).delete()
    assert not CheckHour.objects.exists()
