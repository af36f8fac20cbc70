"""A bot silent where it has always been busy (checks.health.silence): without I/O, `now` passed in."""

from datetime import UTC, datetime, timedelta

from django.utils import translation

from checks.health.silence import hour_of_week, silent_where_busy, week_table

# 2026-12-01 is a Tuesday. The bot is busy on weekdays from 08:00 to 18:00: 5 messages an hour.
TUESDAY = datetime(2026, 12, 1, tzinfo=UTC)


def busy(hour: datetime) -> bool:
    return hour.weekday() < 5 and 8 <= hour.hour < 18


def readings(now: datetime, quiet_since: datetime | None = None) -> list[tuple[datetime, int]]:
    """One check every 30 minutes for five weeks up to `now`; none of the messages after `quiet_since`."""
    out, count = [], 1000
    moment = now - timedelta(weeks=5)
    while moment < now:
        hour = moment.replace(minute=0, second=0, microsecond=0)
        if busy(hour) and moment.minute == 0 and (quiet_since is None or moment < quiet_since):
            count += 5
        out.append((moment, count))
        moment += timedelta(minutes=30)
    return out


def test_the_usual_week_is_busy_in_working_hours_and_quiet_at_night_and_on_weekends():
    now = TUESDAY + timedelta(hours=11)
    week, hint = silent_where_busy(readings(now), now)
    assert hint is None
    assert week[hour_of_week(TUESDAY + timedelta(hours=9))].usual == 5
    assert week[hour_of_week(TUESDAY + timedelta(hours=9))].busy
    assert week[hour_of_week(TUESDAY + timedelta(hours=3))].usual == 0
    assert not week[hour_of_week(TUESDAY + timedelta(hours=3))].busy
    saturday_noon = TUESDAY + timedelta(days=4, hours=12)
    assert week[hour_of_week(saturday_noon)].usual == 0
    rows = week_table(week)
    assert [name for name, _ in rows] == ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
    assert [h.usual for h, _ in rows[1][1]][7:19] == [0] + [5] * 10 + [0]
    assert [shade for _, shade in rows[1][1]][7:10] == [0, 4, 4]


def test_no_growth_since_8_on_a_tuesday_at_11_is_flagged():
    now = TUESDAY + timedelta(hours=11)
    _, hint = silent_where_busy(readings(now, quiet_since=TUESDAY + timedelta(hours=8)), now)
    assert hint is not None
    assert hint.since == datetime(2026, 12, 1, 8, 0)
    # The longest quiet stretch of the past weeks is the weekend: Friday 18:00 to Monday 08:00.
    assert hint.silence == (62 + 1) * 3600


def test_two_quiet_hours_are_not_enough():
    now = TUESDAY + timedelta(hours=10)
    assert silent_where_busy(readings(now, quiet_since=TUESDAY + timedelta(hours=8)), now)[1] is None


def test_silent_at_3_at_night_is_not_flagged():
    now = TUESDAY + timedelta(hours=3)
    assert silent_where_busy(readings(now), now)[1] is None


def test_silent_on_a_weekend_is_not_flagged():
    now = TUESDAY + timedelta(days=4, hours=14)  # Saturday 14:00
    assert silent_where_busy(readings(now), now)[1] is None


def test_a_bot_never_checked_in_those_hours_is_not_flagged():
    now = TUESDAY + timedelta(hours=11)
    gap = [
        (m, c)
        for m, c in readings(now, quiet_since=TUESDAY + timedelta(hours=8))
        if not (9 <= m.hour < 10 and m > now - timedelta(hours=3))
    ]
    assert silent_where_busy(gap, now)[1] is None


def test_too_little_history_is_never_busy():
    now = TUESDAY + timedelta(hours=11)
    recent = [
        (m, c) for m, c in readings(now, quiet_since=TUESDAY + timedelta(hours=8)) if m > now - timedelta(weeks=2)
    ]
    assert silent_where_busy(recent, now)[1] is None


def test_the_usual_weeks_rows_are_named_in_the_readers_language():
    now = datetime(2026, 11, 24, 11, tzinfo=UTC)
    week, _hint = silent_where_busy(readings(now), now)
    assert [name for name, _hours in week_table(week)][:2] == ["Mon", "Tue"]
    with translation.override("ru"):
        assert [name for name, _hours in week_table(week)][:2] == ["Пн", "Вт"]
