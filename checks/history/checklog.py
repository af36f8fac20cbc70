"""Every check of a bot, packed: 36 bytes a check, one row per bot per hour (checks.models.CheckHour).

A check is recorded as one fixed-size entry: when it ran (milliseconds into its local hour),
how late after its slot, its status, whether it was manual or recorded for its failing portal,
its HTTP status, latency, event backlog and the four counters. The entries of the hour being
checked now are appended to the bot's own row (Bot.hour_checks), which every check rewrites
anyway; when a check starts a new hour, the finished one moves into a CheckHour row. So a check costs
its 36 bytes and a share of one row per bot-hour, instead of a row and two index entries of
its own.

What an entry does not hold (error code and description, problems, response format, a
redirect, time.operating) only a check that has something to say has: such a check is also
written whole as a Verification row (checks.engine.recording.is_detailed), and the history
table shows it from there. Pure: no Django model or query here.
"""

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from checks.status import Status

# at_ms, late_ms, status, flags, http_status, duration_ms, event_backlog_s, 4 counters.
ENTRY = struct.Struct("<iiBBHII4I")
SIZE = ENTRY.size
NONE = 0xFFFFFFFF  # an unknown backlog or counter
LARGEST = NONE - 1  # a counter above this is kept by the check's Verification row only
# A status's number in an entry. Append only: stored entries keep their numbers for good.
STATUS_CODES = (
    Status.OK,
    Status.NOT_FOUND,
    Status.NOT_OWNER,
    Status.DEGRADED,
    Status.AUTH_FAILED,
    Status.MISCONFIGURED,
    Status.PORTAL_UNAVAILABLE,
    Status.RATE_LIMITED,
    Status.SERVER_ERROR,
    Status.UNREACHABLE,
    Status.BAD_RESPONSE,
    Status.ERROR,
)
STATUS_NUMBER = {str(status): number for number, status in enumerate(STATUS_CODES)}
OK_NUMBER = STATUS_NUMBER[Status.OK]
MANUAL = 1
BY_PORTAL = 2
COUNTERS = ("count_message", "count_command", "count_chat", "count_user")
# A bot's open hour holds at most this many checks on its row (a bot checked every 30 s, or
# checked by hand again and again): the next check moves them into the hour's CheckHour row.
OPEN_HOUR_MAX = 64
OPEN_BYTES = OPEN_HOUR_MAX * SIZE
_I32 = 2**31 - 1
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class PackedCheck:
    """A check as the bot's history keeps it: its entry, its local hour, and whether it is also
    written whole as a Verification row."""

    entry: bytes
    hour: datetime
    detailed: bool


@dataclass(frozen=True, slots=True)
class Check:
    """One check as its entry keeps it."""

    checked_at: datetime
    slot: datetime
    status: str
    manual: bool
    by_portal: bool
    http_status: int | None
    duration_ms: int
    event_backlog_s: int | None
    counters: tuple[int, int, int, int] | None  # count_message, count_command, count_chat, count_user

    @property
    def ok(self) -> bool:
        return self.status == Status.OK


def _clamp(value: int, low: int, high: int) -> int:
    return max(low, min(high, value))


def _ms(delta: timedelta) -> int:
    # Whole milliseconds, rounded down: a check's entry is never later than the check.
    return _clamp(delta // timedelta(milliseconds=1), -_I32, _I32)


def storable(counters: tuple | None) -> bool:
    """Whether these counters fit an entry (else the check is kept whole as a Verification row)."""
    return counters is None or all(value is not None and 0 <= value <= LARGEST for value in counters)


def encode(
    *,
    hour: datetime,
    checked_at: datetime,
    slot: datetime,
    status: str,
    manual: bool = False,
    by_portal: bool = False,
    http_status: int | None = None,
    duration_ms: int = 0,
    event_backlog_s: int | None = None,
    counters: tuple | None = None,
) -> bytes:
    """One check's entry; `hour` is the start of the local hour it belongs to."""
    flags = (MANUAL if manual else 0) | (BY_PORTAL if by_portal else 0)
    known = counters is not None and storable(counters)
    return ENTRY.pack(
        _ms(checked_at - hour),
        # In whole milliseconds of both times, so the slot comes back as its millisecond.
        _clamp(moment_key(checked_at) - moment_key(slot), -_I32, _I32),
        STATUS_NUMBER[str(status)],
        flags,
        _clamp(http_status or 0, 0, 0xFFFF),
        _clamp(int(duration_ms or 0), 0, LARGEST),
        NONE if event_backlog_s is None else _clamp(int(event_backlog_s), 0, LARGEST),
        *(counters if known else (NONE,) * 4),
    )


def entries(data: bytes | memoryview | None) -> Iterator[tuple]:
    """The raw entry tuples of a packed hour (for folds and tallies that need no datetimes)."""
    if not data:
        return iter(())
    raw = bytes(data)
    return ENTRY.iter_unpack(raw[: len(raw) - len(raw) % SIZE])


def decode(data: bytes | memoryview | None, hour: datetime) -> list[Check]:
    """The checks of a packed hour, in the order they were appended."""
    checks = []
    for at_ms, late_ms, status, flags, http, duration, backlog, *counters in entries(data):
        checked_at = hour + timedelta(milliseconds=at_ms)
        checks.append(
            Check(
                checked_at=checked_at,
                slot=checked_at - timedelta(milliseconds=late_ms),
                status=str(STATUS_CODES[status]) if status < len(STATUS_CODES) else str(Status.ERROR),
                manual=bool(flags & MANUAL),
                by_portal=bool(flags & BY_PORTAL),
                http_status=http or None,
                duration_ms=duration,
                event_backlog_s=None if backlog == NONE else backlog,
                counters=None if counters[0] == NONE else tuple(counters),
            )
        )
    return checks


def moment_key(moment: datetime) -> int:
    """A check's time in whole milliseconds since the epoch, rounded down as its entry keeps it: how
    an entry and the check's Verification row (which keeps microseconds) are matched."""
    return (moment - EPOCH) // timedelta(milliseconds=1)


def count(data: bytes | memoryview | None) -> int:
    return len(data or b"") // SIZE
