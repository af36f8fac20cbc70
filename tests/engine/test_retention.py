"""Retention: packed hours and verification rows go after their window (whole partitions on
PostgreSQL), changes and per-bot daily aggregates with their hours stay, and uptime survives the
move exactly. Checks are recorded through the engine's own write (tests.fixtures.history)."""

import random
from datetime import UTC, date, datetime, timedelta

import pytest
from django.db import connection

from checks.history import checklog, days, partitions, retention
from checks.history import read as history_read
from checks.models import Bot, CheckHour, DailyStat, Portal, Verification, VerificationChange
from checks.status import Status
from tests.fixtures.history import checks_of, record_check

NOW = datetime(2026, 6, 15, 3, 17, tzinfo=UTC)


@pytest.fixture
def bot(db):
    portal = Portal.objects.create(name="acme", url="https://acme.example", webhook_user_id=1, webhook_code="k")
    return Bot.objects.create(portal=portal, code="alpha", bot_token="t")


def check(bot: Bot, at: datetime, status=Status.OK, count: int | None = None, duration=10):
    """A check at `at` (in time order), as the engine records it."""
    return record_check(bot, at, status, count=count, duration=duration)


def whole_row(bot: Bot, at: datetime, status=Status.OK, count: int | None = None, duration=10, changed=False):
    """A verification row alone, for what concerns that table only."""
    return Verification.objects.create(
        bot=bot, portal=bot.portal, slot=at, checked_at=at, status=status, duration_ms=duration, count_message=count,
        count_command=None if count is None else 1, count_chat=None if count is None else 2,
        count_user=None if count is None else 3, changed=changed,
    )  # fmt: skip


def test_old_raw_rows_go_and_their_day_is_kept_with_its_hours(bot, settings):
    settings.BOTWATCH_HISTORY_DAYS = 90
    old_day = datetime(2026, 5, 1, tzinfo=UTC)
    check(bot, old_day + timedelta(hours=1), count=5)
    check(bot, old_day + timedelta(hours=2), Status.SERVER_ERROR, duration=30)
    check(bot, old_day + timedelta(hours=2, minutes=5), count=9)
    check(bot, old_day + timedelta(hours=4), Status.NOT_FOUND)
    recent = check(bot, NOW - timedelta(hours=2), count=20)

    retention.prune_history(NOW)

    assert list(Verification.objects.all()) == [recent]
    stat = DailyStat.objects.get(bot=bot, day=date(2026, 5, 1))
    assert (stat.checks, stat.failures, stat.total_duration_ms) == (4, 2, 60)
    assert stat.uptime == 0.5
    assert (stat.count_message, stat.count_command, stat.count_chat, stat.count_user) == (9, 1, 2, 3)
    hours = days.unpack(stat.hours, days.base_of(stat))
    assert len(hours) == 24
    assert [(h.checks, h.failures, h.total_ms) for h in hours[1:5]] == [(1, 0, 10), (2, 1, 40), (0, 0, 0), (1, 1, 10)]
    assert hours[1].counters == (5, 1, 2, 3) and hours[2].counters == (9, 1, 2, 3) and hours[4].counters is None
    # Every change outlives its raw row; the history table reads both stores, newest first.
    assert VerificationChange.objects.count() == 4
    shown = list(history_read.history(bot.pk))
    assert [row.status for row in shown] == ["ok", "not_found", "ok", "server_error", "ok"]
    assert [row.status for row in history_read.history(bot.pk, "failed")] == ["not_found", "server_error"]
    assert [c.checked_at for c in checks_of(bot)] == [recent.checked_at]


def test_rows_that_changed_nothing_leave_no_change_row(bot, settings):
    settings.BOTWATCH_HISTORY_DAYS = 90
    day = datetime(2026, 5, 1, tzinfo=UTC)
    first = check(bot, day)
    for minute in range(1, 10):
        check(bot, day + timedelta(minutes=minute))
    assert Verification.objects.count() == 1  # the steady checks are entries only
    retention.prune_history(NOW)
    assert list(VerificationChange.objects.values_list("verification_id", flat=True)) == [first.pk]
    assert DailyStat.objects.get(bot=bot).checks == 10


def test_raw_rows_stay_for_their_window(bot, settings):
    settings.BOTWATCH_RAW_HISTORY_HOURS = 24
    check(bot, NOW - timedelta(hours=49))
    kept = check(bot, NOW - timedelta(hours=23), Status.NOT_FOUND)
    later = check(bot, NOW - timedelta(hours=22), Status.NOT_FOUND)
    retention.prune_history(NOW)
    assert list(Verification.objects.order_by("checked_at")) == [kept, later]
    assert [c.checked_at for c in checks_of(bot)] == [kept.checked_at, later.checked_at]


def test_yesterday_is_folded_while_its_rows_are_still_kept(bot, settings):
    check(bot, NOW - timedelta(hours=5), Status.UNREACHABLE)
    check(bot, NOW - timedelta(hours=4), count=3)
    retention.prune_history(NOW)
    assert len(checks_of(bot)) == 2
    stat = DailyStat.objects.get(bot=bot, day=date(2026, 6, 14))
    assert (stat.checks, stat.failures) == (2, 1)


def test_a_day_already_folded_is_not_recounted_from_partly_dropped_rows(bot, settings):
    day = datetime(2026, 5, 1, tzinfo=UTC)
    for hour in range(4):
        check(bot, day + timedelta(hours=hour))
    retention.aggregate_day(day.date())  # the last hour is still open on the bot's row: counted too
    # An earlier run was interrupted after deleting three of the four hours.
    CheckHour.objects.filter(hour__lt=day + timedelta(hours=3)).delete()
    retention.prune_history(NOW)
    assert DailyStat.objects.get(bot=bot, day=day.date()).checks == 4
    assert checks_of(bot) == [] and Verification.objects.count() == 0


def test_deletion_goes_in_batches_and_clears_references(bot):
    day = datetime(2026, 5, 1, tzinfo=UTC)
    rows = [whole_row(bot, day + timedelta(minutes=m), changed=m == 0) for m in range(7)]
    Bot.objects.filter(pk=bot.pk).update(last_verification=rows[-1], last_ok_verification=rows[-1])
    assert retention.delete_before(NOW - timedelta(days=30), batch=3) == 7
    bot.refresh_from_db()
    assert bot.last_verification is None and bot.last_ok_verification is None
    assert VerificationChange.objects.get().verification_id == rows[0].pk


def test_running_twice_changes_nothing_more(bot, settings):
    settings.BOTWATCH_HISTORY_DAYS = 90
    check(bot, datetime(2026, 5, 1, 1, tzinfo=UTC))
    check(bot, NOW - timedelta(days=1))
    retention.prune_history(NOW)
    stats = list(DailyStat.objects.order_by("day").values_list("day", "checks", "failures", "hours"))
    assert retention.prune_history(NOW)["deleted"] == 0
    assert list(DailyStat.objects.order_by("day").values_list("day", "checks", "failures", "hours")) == stats
    assert VerificationChange.objects.count() == 1


def test_changes_and_aggregates_past_the_retention_go(bot, settings):
    settings.BOTWATCH_HISTORY_DAYS = 30
    check(bot, NOW - timedelta(days=40))
    check(bot, NOW - timedelta(days=20), Status.NOT_FOUND)
    retention.prune_history(NOW)
    assert VerificationChange.objects.count() == 1
    assert list(DailyStat.objects.values_list("day", flat=True)) == [(NOW - timedelta(days=20)).date()]


def raw_uptime(checks: list[tuple[datetime, str]], start: datetime) -> float:
    statuses = [status for at, status in checks if at >= start]
    return sum(status == Status.OK for status in statuses) / len(statuses)


def pack(bot: Bot, checks: list[tuple[datetime, str]]) -> None:
    """Packed hours holding these checks, as the recording leaves them (written in bulk: 3,500 checks)."""
    hours: dict[datetime, bytes] = {}
    for at, status in checks:
        start = days.hour_start(at)
        entry = checklog.encode(hour=start, checked_at=at, slot=at, status=status, duration_ms=5)
        hours[start] = hours.get(start, b"") + entry
    CheckHour.objects.bulk_create(CheckHour(bot=bot, hour=start, data=data) for start, data in hours.items())


def test_uptime_from_the_aggregates_equals_uptime_from_the_raw_rows(bot, settings):
    """Twelve days of checks every 5 minutes at random; uptime over 24 h, 7 d and 30 d (whole hours)
    from the checks themselves, from the packed hours, then again once all but a day or two of them
    are folded and dropped."""
    settings.BOTWATCH_HISTORY_DAYS = 90
    settings.BOTWATCH_RAW_HISTORY_HOURS = 24
    pick = random.Random(15)
    at, checks = NOW - timedelta(days=12), []
    while at < NOW:
        status = Status.OK if pick.random() < 0.8 else pick.choice([Status.NOT_FOUND, Status.DEGRADED])
        checks.append((at, status))
        at += timedelta(minutes=5, seconds=pick.randint(0, 20))
    pack(bot, checks)
    windows = [24, 24 * 7, 24 * 30]
    before = [raw_uptime(checks, history_read.window_start(NOW, hours)) for hours in windows]
    assert before == [history_read.uptime(bot.pk, hours, NOW) for hours in windows]

    retention.prune_history(NOW)

    assert checks_of(bot)[0].checked_at >= NOW - timedelta(days=3)
    assert DailyStat.objects.filter(bot=bot).count() == 12
    assert [history_read.uptime(bot.pk, hours, NOW) for hours in windows] == before
    assert len(set(before)) == 3  # the windows really differ


def test_uptime_window_starts_mid_day_on_the_folded_hours(bot, settings):
    settings.BOTWATCH_RAW_HISTORY_HOURS = 24
    day = datetime(2026, 6, 10, tzinfo=UTC)
    check(bot, day + timedelta(hours=1), Status.NOT_FOUND)  # before the window
    check(bot, day + timedelta(hours=5, minutes=10))  # in it
    check(bot, day + timedelta(hours=6), Status.NOT_FOUND)  # in it
    retention.prune_history(NOW)
    assert checks_of(bot) == []
    start = day + timedelta(hours=5)
    assert history_read.uptime_counts(bot.pk, start) == [(2, 1)]


def test_the_seven_day_chart_has_hours_before_the_raw_rows(bot, settings):
    settings.BOTWATCH_RAW_HISTORY_HOURS = 24
    old = NOW - timedelta(days=3)
    check(bot, old.replace(minute=5), count=4, duration=20)
    check(bot, old.replace(minute=25), count=6, duration=40)
    recent = check(bot, NOW - timedelta(hours=1), count=8, duration=7)
    retention.prune_history(NOW)
    points = history_read.chart_points(bot.pk, NOW - timedelta(days=7))
    hour = old.replace(minute=30, second=0, microsecond=0)
    assert points == [(int(hour.timestamp()), 6, 2, 3, 1, 30), (int(recent.checked_at.timestamp()), 8, 2, 3, 1, 7)]


def test_hours_pack_and_unpack():
    base = (1000, 5, 7, 2**40)
    hours = [days.Hour(3, 1, 900, (990, 5, 7, 2**40 - 3)), days.Hour(), days.Hour(65535, 0, 2**32 - 1, None)]
    data = days.pack(hours, base)
    assert len(data) < 3 * days.HOUR.size  # compressed
    assert days.unpack(data, base) == hours
    assert days.unpack(data, None)[0].counters is None


@pytest.mark.django_db(transaction=True)  # rows committed, as the workers' are
def test_retention_drops_whole_partitions(bot, settings):
    settings.BOTWATCH_RAW_HISTORY_HOURS = 24
    partitions.ensure_partitions(NOW, first=date(2026, 6, 10))
    old = check(bot, datetime(2026, 6, 11, 12, tzinfo=UTC), Status.NOT_FOUND)
    check(bot, datetime(2026, 6, 11, 13, tzinfo=UTC), Status.NOT_FOUND)
    check(bot, datetime(2026, 6, 11, 14, tzinfo=UTC))
    check(bot, datetime(2026, 6, 11, 15, tzinfo=UTC))
    kept = check(bot, NOW - timedelta(hours=3))
    for table in partitions.TABLES:
        assert date(2026, 6, 11) in table.partitions()
    with connection.cursor() as cursor:
        cursor.execute("SELECT tableoid::regclass::text FROM checks_verification WHERE id = %s", [old.pk])
        assert cursor.fetchone()[0] == "checks_verification_p20260611"
        cursor.execute("SELECT DISTINCT tableoid::regclass::text FROM checks_checkhour")
        assert cursor.fetchall() == [("checks_checkhour_p20260611",)]

    result = retention.prune_history(NOW)

    for table in partitions.TABLES:
        days = table.partitions()
        assert date(2026, 6, 11) not in days and date(2026, 6, 10) not in days
        assert date(2026, 6, 13) not in days and {date(2026, 6, 14), date(2026, 6, 18)} <= set(days)
    assert result["dropped"] >= 4 and result["deleted"] == 0  # dropped, not deleted row by row
    assert Verification.objects.count() == 0  # the kept check had nothing more to say than its entry
    assert [c.checked_at for c in checks_of(bot)] == [kept.checked_at]
    assert list(VerificationChange.objects.order_by("checked_at").values_list("status", flat=True)) == [
        "not_found",
        "ok",
    ]
    assert DailyStat.objects.get(bot=bot, day=date(2026, 6, 11)).checks == 4


def test_slots_outside_the_partitions_land_in_the_default_one_and_are_deleted(bot, settings):
    # A bot enabled again after years: its slot is the check it missed then.
    row = whole_row(bot, datetime(2020, 1, 1, tzinfo=UTC), changed=True)
    Verification.objects.filter(pk=row.pk).update(checked_at=NOW - timedelta(hours=30))
    CheckHour.objects.create(bot=bot, hour=datetime(2020, 1, 1, tzinfo=UTC), data=b"")
    with connection.cursor() as cursor:
        cursor.execute("SELECT tableoid::regclass::text FROM checks_verification WHERE id = %s", [row.pk])
        assert cursor.fetchone()[0] == partitions.VERIFICATIONS.default_name()
        cursor.execute("SELECT tableoid::regclass::text FROM checks_checkhour")
        assert cursor.fetchone()[0] == partitions.HOURS.default_name()
    assert retention.prune_history(NOW)["deleted"] == 2
    assert VerificationChange.objects.get().verification_id == row.pk
    assert not CheckHour.objects.exists()
