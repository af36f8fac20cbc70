"""Does the bot answer, and does it still get messages? The verdicts of the answer probe and of silence.

Pure: no I/O, `now` passed in. The probe's calls are the client's (checks.bitrix24.dialogs), its
scheduling the engine's (checks.engine.answers); here: which message is the bot's answer, how
long it took, and the problems `no_answer`, `answer_refused` and `silent`.
"""

from collections.abc import Sequence
from datetime import datetime, timedelta

from django.utils.translation import gettext as _

from checks.bitrix24.types import BotResult
from checks.health.bot import Problem, describe_age
from checks.models import Bot
from checks.status import ResponseFormat, Status

PROBE_CHECKS = ("no_answer", "answer_refused")


def first_answer(messages: Sequence[dict], bot_user_id: int, after_id: int) -> dict | None:
    """The first message the bot's user wrote after the probe's message (messages sorted by id)."""
    return next((m for m in messages if m["id"] > after_id and m["author_id"] == bot_user_id), None)


def answer_ms(answer: dict, portal_sent_at: float | None, sent_at: datetime) -> int | None:
    """From the send to the answer on the portal's own clock.

    Bitrix24 gives message dates in whole seconds: the send's time is cut to the second too,
    so a bot that answers in 1 s shows 1,000 ms, not a reading's delay.
    """
    try:
        answered = datetime.fromisoformat(str(answer.get("date")))
    except ValueError:
        return None
    start = int(portal_sent_at) if portal_sent_at is not None else int(sent_at.timestamp())
    return max(0, int((answered.timestamp() - start) * 1000))


def no_answer(within: int, text: str, dialog: str, read_problem: str = "") -> dict:
    detail = _("no answer to %(text)s in dialog %(dialog)s within %(within)s s") % {
        "text": repr(text),
        "dialog": dialog,
        "within": within,
    }
    if read_problem:
        detail += " " + _("(the dialog could not be read: %(problem)s)") % {"problem": read_problem}
    return Problem("no_answer", detail, "no_answer").as_json()


def answer_refused(code: str, dialog: str) -> dict:
    detail = _("Bitrix24 refused the probe in dialog %(dialog)s: %(code)s") % {"dialog": dialog, "code": code}
    return Problem("answer_refused", detail, f"answer_refused:{code}").as_json()


def as_problem(stored: dict) -> Problem | None:
    """The last finished probe's problem as stored on the bot ({} when it answered)."""
    if not stored or stored.get("check") not in PROBE_CHECKS:
        return None
    return Problem(stored["check"], stored.get("detail", ""), stored.get("key", stored["check"]))


def silent(silence: int | None, count: int | None, grew_at: datetime | None, now: datetime) -> Problem | None:
    """No growth of countMessage for `silence` seconds of successful checks."""
    if not silence or count is None or grew_at is None:
        return None
    quiet = now - grew_at
    if quiet < timedelta(seconds=silence):
        return None
    detail = _("countMessage has stayed at %(count)s since %(since)s UTC (%(quiet)s; allowed %(allowed)s)") % {
        "count": count,
        "since": f"{grew_at:%Y-%m-%d %H:%M}",
        "quiet": describe_age(quiet),
        "allowed": describe_age(timedelta(seconds=silence)),
    }
    return Problem("silent", detail, "silent")


def problems_of(bot: Bot, result: BotResult, now: datetime) -> list[Problem]:
    """The answer probe's and silence's problems for this check of the bot (an extended answer only)."""
    if result.status != Status.OK or result.response_format != ResponseFormat.EXTENDED:
        return []
    problems = [p for p in [as_problem(bot.answer_problem or {})] if p is not None]
    count = (result.counters or {}).get("countMessage")
    if count is not None and count == bot.count_message:
        quiet = silent(bot.silence, count, bot.message_growth_at, now)
        problems += [quiet] if quiet is not None else []
    return problems


def grew(bot: Bot, result: BotResult) -> bool:
    """Whether this check saw countMessage move (or saw it for the first time)."""
    count = (result.counters or {}).get("countMessage")
    return count is not None and (count != bot.count_message or bot.message_growth_at is None)
