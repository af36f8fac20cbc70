"""A bot silent where it has always been busy: its usual messages by hour of the week.

Pure: no I/O, `now` passed in. From the bot's countMessage readings (the packed history gives one
per hour before the raw window, every check within it: checks.history.read.chart_points) this
learns, for each of the 168 local hours of the week, how much the counter grew in that hour over
the last WEEKS weeks. A bot without a `silence` rule is shown as silent (on its page only, never
alerted) when its counter has not grown over the last QUIET_HOURS whole hours while in each of
those hours of the week it grew in (almost) every past week: nights and weekends a bot is usually
quiet in never count.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from math import ceil
from statistics import median

from django.utils import timezone
from django.utils.dates import WEEKDAYS_ABBR

WEEKS = 4
QUIET_HOURS = 3
MIN_WEEKS = 3  # past weeks with readings an hour of the week needs before it can be called busy
# The "expect this" rule never asks less than this, whatever the history shows.
MIN_SILENCE = timedelta(hours=3)


def local_hour(moment: datetime) -> datetime:
    """The local hour `moment` falls in, as a naive local datetime (a key that survives DST)."""
    local = timezone.localtime(moment).replace(tzinfo=None)
    return local.replace(minute=0, second=0, microsecond=0)


def hour_of_week(hour: datetime) -> int:
    return hour.weekday() * 24 + hour.hour


def growth_by_hour(readings: Iterable[tuple[datetime, int | None]]) -> dict[datetime, int]:
    """How much countMessage grew in each local hour: its last reading in the hour less the last
    reading of the hour before. Hours without readings, or after an hour without them, are
    unknown (absent): a gap in the checks is no evidence of silence or of messages."""
    last: dict[datetime, int] = {}
    for moment, count in sorted((m, c) for m, c in readings if c is not None):
        last[local_hour(moment)] = count
    return {
        hour: max(0, count - last[hour - timedelta(hours=1)])
        for hour, count in last.items()
        if hour - timedelta(hours=1) in last
    }


@dataclass
class WeekHour:
    """One hour of the week over the past weeks."""

    seen: int = 0  # past weeks with a known growth in this hour
    grew: int = 0  # ... of which the counter grew
    usual: float | None = None  # the median growth over the weeks seen

    @property
    def busy(self) -> bool:
        """Grew in every past week seen, or all but one of at least MIN_WEEKS + 1."""
        return self.seen >= MIN_WEEKS and self.grew >= max(MIN_WEEKS, self.seen - 1)


def usual_week(growth: dict[datetime, int], now: datetime, weeks: int = WEEKS) -> list[WeekHour]:
    """The 168 hours of the week (Monday 00:00 first, local time) learned from the `weeks` weeks
    before today (today's hours, the ones being judged, never teach what is usual)."""
    today = local_hour(now).replace(hour=0)
    samples: list[list[int]] = [[] for _ in range(168)]
    for hour, grown in growth.items():
        if today - timedelta(weeks=weeks) <= hour < today:
            samples[hour_of_week(hour)].append(grown)
    return [WeekHour(len(values), sum(v > 0 for v in values), median(values) if values else None) for values in samples]


@dataclass
class SilentHint:
    since: datetime  # the start of the first quiet hour (local)
    count: int  # countMessage all that time
    silence: int  # seconds: the rule "expect this" would set


def longest_quiet(growth: dict[datetime, int], now: datetime, weeks: int = WEEKS) -> timedelta:
    """The longest run of consecutive known hours without growth over the learned weeks."""
    today = local_hour(now).replace(hour=0)
    longest = run = 0
    hour = today - timedelta(weeks=weeks)
    while hour < today:
        run = run + 1 if growth.get(hour) == 0 else 0
        longest = max(longest, run)
        hour += timedelta(hours=1)
    return timedelta(hours=longest)


def suggested_silence(growth: dict[datetime, int], now: datetime) -> int:
    """Seconds for the `silence` rule: one hour more than the longest quiet stretch of the learned
    weeks (for a bot busy on weekdays that is its weekend), and at least MIN_SILENCE. The rule
    does not know the hour of the week, so anything shorter would alert every normal night."""
    return int(max(MIN_SILENCE, longest_quiet(growth, now) + timedelta(hours=1)).total_seconds())


def silent_where_busy(
    readings: Iterable[tuple[datetime, int | None]], now: datetime, quiet_hours: int = QUIET_HOURS
) -> tuple[list[WeekHour], SilentHint | None]:
    """(the usual week, the hint or None). Silent: the last `quiet_hours` whole hours are known,
    none grew (nor the current hour so far), and each of them is a busy hour of the week."""
    readings = list(readings)
    growth = growth_by_hour(readings)
    week = usual_week(growth, now)
    current = local_hour(now)
    quiet = [current - timedelta(hours=n) for n in range(quiet_hours, 0, -1)]
    if growth.get(current, 0) > 0 or any(growth.get(hour) != 0 for hour in quiet):
        return week, None
    if not all(week[hour_of_week(hour)].busy for hour in quiet):
        return week, None
    count = max(c for m, c in readings if c is not None and local_hour(m) == quiet[-1])
    return week, SilentHint(quiet[0], count, suggested_silence(growth, now))


def week_table(week: list[WeekHour]) -> list[tuple[str, list[tuple[WeekHour, int]]]]:
    """The usual week as 7 rows of 24 hours, for the bot page: each hour with its shade, 0 (no
    messages, or unknown) to 4 (the busiest hour of the week)."""
    peak = max((h.usual or 0 for h in week), default=0)
    shaded = [(h, ceil(4 * h.usual / peak) if peak and h.usual else 0) for h in week]
    # Django's own abbreviations ("Mon", "Пн"): the rows are named in the reader's language.
    return [(str(WEEKDAYS_ABBR[day]), shaded[day * 24 : day * 24 + 24]) for day in range(7)]
