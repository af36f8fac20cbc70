"""Retention: old verifications go in batches, per-bot daily aggregates stay."""

from datetime import UTC, date, datetime, timedelta

import pytest

from checks.engine import retention
from checks.models import Bot, DailyStat, Portal, Verification
from checks.status import Status

NOW = datetime(2026, 6, 15, 3, 17, tzinfo=UTC)


@pytest.fixture
def bot(db):
    portal = Portal.objects.create(name="acme", url="https://acme.example", webhook_user_id=1, webhook_code="k")
    return Bot.objects.create(portal=portal, code="alpha", bot_token="t")


def check(bot: Bot, at: datetime, status=Status.OK, count: int | None = None, duration=10) -> Verification:
    return Verification.objects.create(
        bot=bot, portal=bot.portal, slot=at, checked_at=at, status=status, duration_ms=duration, count_message=count,
        count_command=None if count is None else 1, count_chat=None if count is None else 2,
        count_user=None if count is None else 3,
    )  # fmt: skip


def test_old_rows_are_deleted_and_their_day_is_kept_as_an_aggregate(bot, settings):
    settings.BOTWATCH_HISTORY_DAYS = 30
    old_day = datetime(2026, 5, 1, tzinfo=UTC)
    check(bot, old_day + timedelta(hours=1), count=5)
    check(bot, old_day + timedelta(hours=2), Status.SERVER_ERROR, duration=30)
    check(bot, old_day + timedelta(hours=3), count=9)
    check(bot, old_day + timedelta(hours=4), Status.NOT_FOUND)
    recent = check(bot, NOW - timedelta(days=2), count=20)

    result = retention.prune_history(NOW)

    assert result["deleted"] == 4
    assert list(Verification.objects.all()) == [recent]
    stat = DailyStat.objects.get(bot=bot, day=date(2026, 5, 1))
    assert (stat.checks, stat.failures, stat.total_duration_ms) == (4, 2, 60)
    assert stat.uptime == 0.5
    assert (stat.count_message, stat.count_command, stat.count_chat, stat.count_user) == (9, 1, 2, 3)


def test_whole_days_are_kept_up_to_the_cutoff(bot, settings):
    settings.BOTWATCH_HISTORY_DAYS = 1
    two_days_ago_late = datetime(2026, 6, 13, 23, 59, tzinfo=UTC)
    yesterday_early = datetime(2026, 6, 14, 0, 1, tzinfo=UTC)
    check(bot, two_days_ago_late)
    kept = check(bot, yesterday_early)
    retention.prune_history(NOW)
    assert list(Verification.objects.all()) == [kept]


def test_yesterday_is_aggregated_while_its_rows_are_still_kept(bot, settings):
    settings.BOTWATCH_HISTORY_DAYS = 90
    check(bot, NOW - timedelta(days=1), count=3)
    check(bot, NOW - timedelta(days=1, hours=1), Status.UNREACHABLE)
    retention.prune_history(NOW)
    assert Verification.objects.count() == 2
    stat = DailyStat.objects.get(bot=bot, day=date(2026, 6, 14))
    assert (stat.checks, stat.failures) == (2, 1)


def test_a_day_already_aggregated_is_not_recounted_from_partly_pruned_rows(bot, settings):
    settings.BOTWATCH_HISTORY_DAYS = 30
    day = datetime(2026, 5, 1, tzinfo=UTC)
    for hour in range(4):
        check(bot, day + timedelta(hours=hour))
    retention.aggregate_day(day.date())
    # An earlier prune was interrupted after deleting three of the four rows.
    Verification.objects.filter(checked_at__lt=day + timedelta(hours=3)).delete()
    retention.prune_history(NOW)
    assert DailyStat.objects.get(bot=bot, day=day.date()).checks == 4
    assert Verification.objects.count() == 0


def test_deletion_goes_in_batches_and_clears_references(bot, settings):
    settings.BOTWATCH_HISTORY_DAYS = 30
    day = datetime(2026, 5, 1, tzinfo=UTC)
    rows = [check(bot, day + timedelta(minutes=m)) for m in range(7)]
    Bot.objects.filter(pk=bot.pk).update(last_verification=rows[-1], last_ok_verification=rows[-1])
    assert retention.delete_before(NOW - timedelta(days=30), batch=3) == 7
    bot.refresh_from_db()
    assert bot.last_verification is None and bot.last_ok_verification is None


def test_running_twice_changes_nothing_more(bot, settings):
    settings.BOTWATCH_HISTORY_DAYS = 30
    check(bot, datetime(2026, 5, 1, 1, tzinfo=UTC))
    check(bot, NOW - timedelta(days=1))
    retention.prune_history(NOW)
    stats = list(DailyStat.objects.order_by("day").values_list("day", "checks", "failures"))
    assert retention.prune_history(NOW)["deleted"] == 0
    assert list(DailyStat.objects.order_by("day").values_list("day", "checks", "failures")) == stats
