"""A bot's verdict: the problems an extended Bot.get answer reveals, and `degraded` when it has any.

Pure: no I/O, `now` passed in. The client (checks.bitrix24) gathers what Bitrix24 said (the
bot's fields and users, the oldest pending event, the registered commands); the engine hands
that here (`assess`) and this module says what is wrong with it.
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.utils.translation import gettext as _

from checks.bitrix24.outcome import as_bool, bot_id_of
from checks.bitrix24.sidecalls import target_id
from checks.bitrix24.types import BotResult, EventPeek
from checks.models import Bot
from checks.status import ResponseFormat, Status

# The fields of the Bot object that `expect` may pin and the learned baseline follows.
CONFIG_FIELDS = ("type", "eventMode", "language", "isHidden", "isSupportOpenline", "isReactionsEnabled", "backgroundId")
BOOLEAN_FIELDS = frozenset({"isHidden", "isSupportOpenline", "isReactionsEnabled"})
DEFAULT_BACKLOG_MINUTES = 15
# Bitrix24 deletes a fetch-mode bot's events 24 h after they were queued, without notice;
# past this age the backlog is critical (events are about to be lost).
CRITICAL_BACKLOG = timedelta(hours=20)
EVENTS_KEPT = timedelta(hours=24)
# A bot's health checks, by the names problems carry (and the API's `problem` filter takes).
CHECKS = ("user_inactive", "event_backlog", "drift", "commands", "reregistered")
CHECKS += ("no_answer", "answer_refused", "silent")  # checks.health.answer


@dataclass(frozen=True)
class Problem:
    """One failed health check. `key` tells problems apart for escalation (a new key escalates)."""

    check: str  # one of CHECKS
    detail: str
    key: str
    critical: bool = False

    def as_json(self) -> dict:
        return {"check": self.check, "detail": self.detail, "key": self.key, "critical": self.critical}


@dataclass(frozen=True)
class Health:
    problems: list[Problem]
    event_backlog_s: int | None  # age of the oldest pending event; 0 when none; None: not looked


def assess(result: BotResult, bot: Bot, now: datetime, extra: Sequence[Problem] = ()) -> None:
    """The health checks on an extended answer; problems make it `degraded`.

    extra: the problems of the checks that are not made on this answer alone (checks.health.answer:
    the last answer probe, silence). The notes of health calls that got no usable answer become
    the description of a bot that is otherwise fine.
    """
    if result.status != Status.OK or result.response_format != ResponseFormat.EXTENDED:
        return
    names = result.command_names if result.command_names is not None else bot.commands_seen
    health = find_problems(
        result.fields,
        result.users,
        now=now,
        expect=bot.expect or {},
        backlog_minutes=bot.backlog_minutes,
        pinned_id=target_id(bot),
        events=result.event_peek,
        command_names=names,
    )
    result.problems = health.problems + list(extra)
    result.event_backlog_s = health.event_backlog_s
    notes = list(result.side_notes)
    if result.problems:
        result.status = Status.DEGRADED
        notes = [f"{p.check}: {p.detail}" for p in result.problems] + notes
    result.error_description = "; ".join(notes)


def find_problems(
    fields: Mapping,
    users: Sequence,
    *,
    now: datetime,
    expect: Mapping | None = None,
    backlog_minutes: int | None = None,
    pinned_id: int | None = None,
    events: EventPeek | None = None,
    command_names: Sequence[str] | None = None,
) -> Health:
    """Every health check over one extended answer, in a fixed order."""
    expect = expect or {}
    problems = [*_user_inactive(fields, users)]
    backlog_s = None
    if events is not None and fields.get("eventMode") == "fetch":
        backlog, backlog_s = _event_backlog(events, backlog_minutes, now)
        problems += backlog
    problems += _drift(fields, expect)
    problems += _missing_commands(expect.get("commands"), command_names)
    problems += _reregistered(fields, pinned_id)
    return Health(problems, backlog_s)


def _user_inactive(fields: Mapping, users: Sequence) -> list[Problem]:
    entries = [u for u in users if isinstance(u, Mapping)]
    mine = [u for u in entries if u.get("id") == fields.get("id")] or (entries if len(entries) == 1 else [])
    for user in mine:
        if is_false(user.get("active")):
            detail = _("bot user #%(id)s is switched off (active: false)") % {"id": user.get("id")}
            return [Problem("user_inactive", detail, "user_inactive")]
    return []


def _event_backlog(events: EventPeek, minutes: int | None, now: datetime) -> tuple[list[Problem], int]:
    if events.oldest_at is None:
        return [], 0
    age = max(timedelta(0), (events.portal_now or now) - events.oldest_at)
    limit = timedelta(minutes=minutes or DEFAULT_BACKLOG_MINUTES)
    seconds = int(age.total_seconds())
    if age <= limit:
        return [], seconds
    detail = _("oldest pending event is %(age)s old (threshold %(limit)s)") % {
        "age": describe_age(age),
        "limit": describe_age(limit),
    }
    if age < CRITICAL_BACKLOG:
        return [Problem("event_backlog", detail, "event_backlog")], seconds
    left = max(timedelta(0), EVENTS_KEPT - age)
    detail += "; " + _("Bitrix24 deletes events after 24 h without notice (about %(left)s left)") % {
        "left": describe_age(left)
    }
    return [Problem("event_backlog", detail, "event_backlog:20h", critical=True)], seconds


def _drift(fields: Mapping, expect: Mapping) -> list[Problem]:
    problems = []
    for name in CONFIG_FIELDS:
        if name not in expect:
            continue
        wanted, got = expect[name], fields.get(name)
        if not same_value(name, wanted, got):
            detail = f"{name}: expected {show(wanted)}, got {show(got)}"
            problems.append(Problem("drift", detail, f"drift:{name}"))
    return problems


def _missing_commands(expected: Any, seen: Sequence[str] | None) -> list[Problem]:
    if not expected or seen is None:
        return []
    have = {command_name(name) for name in seen}
    listing = ", ".join(sorted(have)) or "nothing"
    problems = []
    for name in expected:
        if command_name(name) not in have:
            detail = _("command %(name)s is not registered (Command.list has: %(listing)s)") % {
                "name": command_name(name),
                "listing": listing,
            }
            problems.append(Problem("commands", detail, f"commands:{command_name(name)}"))
    return problems


def _reregistered(fields: Mapping, pinned_id: int | None) -> list[Problem]:
    current = bot_id_of(fields)
    if pinned_id is None or current is None or current == pinned_id:
        return []
    return [Problem("reregistered", f"id {pinned_id} -> {current}", f"reregistered:{current}")]


def config_of(fields: Mapping) -> dict:
    """The configuration fields of an extended answer (the learned baseline)."""
    return {name: fields.get(name) for name in CONFIG_FIELDS if name in fields}


def config_changes(baseline: Mapping, fields: Mapping, skip: Iterable[str] = ()) -> dict[str, list]:
    """{field: [before, after]} for configuration fields that changed since the baseline."""
    skipped = set(skip)
    changes = {}
    for name, value in config_of(fields).items():
        if name in skipped or name not in baseline:
            continue
        if not same_value(name, baseline[name], value):
            changes[name] = [baseline[name], value]
    return changes


def describe_changes(changes: Mapping[str, list]) -> str:
    return "; ".join(f"{name}: {show(before)} -> {show(after)}" for name, (before, after) in changes.items())


def same_value(name: str, wanted: Any, got: Any) -> bool:
    if name in BOOLEAN_FIELDS:
        return as_bool(wanted) == as_bool(got)
    if name == "language" and isinstance(wanted, str) and isinstance(got, str):
        return wanted.lower() == got.lower()
    return wanted == got


def is_false(value: Any) -> bool:
    return value is not None and as_bool(value) is False


def show(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def command_name(name: Any) -> str:
    return str(name).strip().lstrip("/").lower()


def describe_age(age: timedelta) -> str:
    """`25 min`, `3 h 5 min`, in the active language (the words of checks.alerts.messages.duration_text)."""
    minutes = int(age.total_seconds() // 60)
    if minutes < 60:
        return _("%(n)d min") % {"n": minutes}
    hours, minutes = divmod(minutes, 60)
    words = _("%(n)d h") % {"n": hours}
    return f"{words} {_('%(n)d min') % {'n': minutes}}" if minutes else words
