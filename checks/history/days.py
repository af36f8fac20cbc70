"""Each hour of a bot's day, packed into DailyStat.hours: 24 bytes an hour, then compressed.

An hour holds its checks, failures and total latency (so uptime over whole hours stays exact
once the raw rows are gone) and its last counters, as differences from the day's last counters
(DailyStat.count_*), which keep them in 32 bits. An hour without counters stores NONE.
Hours are counted from the local midnight of the day: 23 or 25 of them on the days the clocks
change. The packed day is compressed with zlib (most hours repeat their neighbours): about a
third of its 576 bytes on disk.
"""

import struct
import zlib
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.utils import timezone

HOUR = struct.Struct("<HHI4i")
NONE = -(2**31)
COUNTERS = ("count_message", "count_command", "count_chat", "count_user")


@dataclass
class Hour:
    checks: int = 0
    failures: int = 0
    total_ms: int = 0
    counters: tuple[int, int, int, int] | None = None

    @property
    def average_ms(self) -> int | None:
        return round(self.total_ms / self.checks) if self.checks else None


def day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def hours_in(day: date) -> int:
    return round((day_start(day + timedelta(days=1)) - day_start(day)).total_seconds() / 3600)


def hour_start(moment: datetime) -> datetime:
    """The start of the local hour `moment` falls in (an hour boundary of some day's `hours`)."""
    local = timezone.localtime(moment)
    return local - timedelta(minutes=local.minute, seconds=local.second, microseconds=local.microsecond)


def _clamp(value: int, low: int, high: int) -> int:
    return max(low, min(high, value))


def pack(hours: list[Hour], base: tuple | None) -> bytes:
    out = bytearray()
    for hour in hours:
        if hour.counters is None or base is None or None in base:
            deltas = (NONE,) * 4
        else:
            deltas = tuple(_clamp(v - b, NONE + 1, 2**31 - 1) for v, b in zip(hour.counters, base, strict=True))
        out += HOUR.pack(
            _clamp(hour.checks, 0, 0xFFFF),
            _clamp(hour.failures, 0, 0xFFFF),
            _clamp(hour.total_ms, 0, 0xFFFFFFFF),
            *deltas,
        )
    return zlib.compress(bytes(out), 9)


def unpack(data: bytes | memoryview | None, base: tuple | None) -> list[Hour]:
    hours = []
    raw = zlib.decompress(bytes(data)) if data else b""
    for checks, failures, total, *deltas in HOUR.iter_unpack(raw):
        known = base is not None and None not in base and deltas[0] != NONE
        counters = tuple(b + d for b, d in zip(base, deltas, strict=True)) if known else None
        hours.append(Hour(checks, failures, total, counters))
    return hours


def base_of(stat) -> tuple | None:
    """A DailyStat's day-end counters, the base of its hours' counters."""
    values = tuple(getattr(stat, name) for name in COUNTERS)
    return None if None in values else values
