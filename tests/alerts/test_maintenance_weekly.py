"""Weekly maintenance windows (days, times, a timezone), for one portal or every portal: no alert
email while one is in force, and the alert that was held back goes out once it ends."""

from datetime import UTC, datetime, time

import pytest
from django.db import IntegrityError, transaction
from django.utils import translation

from checks.models import Incident, MaintenanceWindow
from checks.status import Status
from tests.alerts.helpers import T0, make_bot, make_portal, minutes, sweep

pytestmark = pytest.mark.django_db
WEDNESDAY, THURSDAY = 2, 3  # T0 is Wednesday 2026-11-25 09:00 UTC, 10:00 in Berlin


def weekly(portal, days, start, end, zone="Europe/Berlin") -> MaintenanceWindow:
    return MaintenanceWindow.objects.create(portal=portal, weekdays=days, start_time=start, end_time=end, timezone=zone)


def test_a_weekly_window_holds_the_alert_back_until_it_ends(smtp_sink):
    portal = make_portal()
    bot = make_bot(portal)
    weekly(portal, [WEDNESDAY], time(9, 30), time(11, 0))  # 08:30-10:00 UTC
    sweep([bot], Status.NOT_FOUND, T0)
    assert smtp_sink.messages == []
    assert Incident.objects.get().suppressed
    sweep([bot], Status.NOT_FOUND, T0 + minutes(70))  # 11:10 in Berlin: the window is over, still failing
    [message] = smtp_sink.wait_for(1)
    assert message["Subject"] == "[BotWatch] BOT_NOT_FOUND: support_bot on acme"


def test_a_weekly_window_on_another_day_does_not_quiet_anything(smtp_sink):
    portal = make_portal()
    bot = make_bot(portal)
    weekly(portal, [THURSDAY], time(0, 0), time(23, 59))
    sweep([bot], Status.NOT_FOUND, T0)
    assert len(smtp_sink.wait_for(1)) == 1


def test_a_window_for_every_portal_quiets_them_all(smtp_sink):
    bots = [make_bot(make_portal(name), bot_token=f"tok-{name}-1") for name in ("acme", "globex")]
    MaintenanceWindow.objects.create(portal=None, weekdays=[WEDNESDAY], start_time=time(8), end_time=time(12))
    sweep(bots, Status.NOT_FOUND, T0)
    assert smtp_sink.messages == []
    assert all(Incident.objects.values_list("suppressed", flat=True))


def test_a_window_past_midnight_runs_into_the_next_day():
    window = MaintenanceWindow(weekdays=[1], start_time=time(23), end_time=time(2), timezone="UTC")  # Tuesday night
    assert window.span_at(datetime(2026, 11, 25, 1, 30, tzinfo=UTC)) == (
        datetime(2026, 11, 24, 23, tzinfo=UTC),
        datetime(2026, 11, 25, 2, tzinfo=UTC),
    )
    assert window.span_at(datetime(2026, 11, 25, 2, 0, tzinfo=UTC)) is None
    assert window.span_at(datetime(2026, 11, 25, 23, 30, tzinfo=UTC)) is None  # Wednesday night: not a day of it
    assert window.describe() == "every Tue 23:00-02:00 UTC"
    with translation.override("ru"):
        assert window.describe() == "по Вт 23:00-02:00 UTC"


def test_the_database_refuses_a_window_that_is_neither_once_nor_weekly():
    portal = make_portal()
    with pytest.raises(IntegrityError), transaction.atomic():
        MaintenanceWindow.objects.create(portal=portal, weekdays=[], start_time=time(1), end_time=time(2))
