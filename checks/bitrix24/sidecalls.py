"""The health calls beside Bot.get: imbot.v2.Event.get and imbot.v2.Command.list, and their answers.

They ride in the same `batch` as the bot's Bot.get where the portal allows batch (25 fetch
bots x {Bot.get, Event.get} = one batch of 50), else they follow it as single calls. Only
owner-only answers matter here, so they are read only for a bot whose Bot.get came back in
the extended format.

Event.get is called with `limit` 1 and NEVER with `offset`: an offset acknowledges the
bot's events, and Bitrix24 deletes every event below it (event-get.md; EventService). The
bot's own backend would lose them. `refuse_offset` stands in front of every request the
client sends, batch commands included, so no code path can send one.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import parse_qsl, urlsplit

from checks.bitrix24.outcome import bot_id_of, parse_command_names, parse_event_peek
from checks.bitrix24.types import COMMAND_LIST, EVENT_GET, BotResult
from checks.models import Bot
from checks.status import ResponseFormat, Status

# Command.list is not worth a call every few minutes; "at least hourly" with room for jitter.
COMMANDS_EVERY = timedelta(minutes=55)
FORBIDDEN_EVENT_PARAMS = frozenset({"offset", "lasteventid"})


class OffsetRefused(RuntimeError):
    """A programming error: something tried to acknowledge (and so delete) a bot's events."""


@dataclass(frozen=True)
class SideCall:
    kind: str  # "events" | "commands"
    method: str
    params: dict


def target_id(bot: Bot) -> int | None:
    """The id BotWatch verifies by: the one pinned when first seen, else the file's id."""
    return bot.pinned_id or bot.bot_id


def side_calls(bot: Bot, token: str | None, now: datetime) -> list[SideCall]:
    """The health calls due for this bot in this run (none before its id is known)."""
    bot_id = target_id(bot)
    if bot_id is None:
        return []
    calls = []
    baseline, expect = bot.baseline or {}, bot.expect or {}
    if "fetch" in (baseline.get("eventMode"), expect.get("eventMode")):
        calls.append(SideCall("events", EVENT_GET, event_peek_params(bot_id, token)))
    if expect.get("commands") and (bot.commands_checked_at is None or now - bot.commands_checked_at >= COMMANDS_EVERY):
        calls.append(SideCall("commands", COMMAND_LIST, _owner_params(bot_id, token)))
    return calls


def catch_up_calls(bot: Bot, result: BotResult, token: str | None, now: datetime) -> list[SideCall]:
    """Health calls that this very answer makes possible, for the same run, with the id just
    returned: Event.get for a bot found in fetch mode (a first check, or a bot just switched to
    fetch), Command.list for a bot whose id was not known before (a first check by code)."""
    bot_id = bot_id_of(result.fields)
    if result.status != Status.OK or result.response_format != ResponseFormat.EXTENDED or bot_id is None:
        return []
    calls = []
    if result.fields.get("eventMode") == "fetch" and result.event_peek is None:
        calls.append(SideCall("events", EVENT_GET, event_peek_params(bot_id, token)))
    due = bot.commands_checked_at is None or now - bot.commands_checked_at >= COMMANDS_EVERY
    if (bot.expect or {}).get("commands") and result.command_names is None and due:
        calls.append(SideCall("commands", COMMAND_LIST, _owner_params(bot_id, token)))
    return calls


def event_peek_params(bot_id: int, token: str | None) -> dict:
    """The one place Event.get parameters are built: the oldest event, left in the queue."""
    return {**_owner_params(bot_id, token), "limit": 1}


def _owner_params(bot_id: int, token: str | None) -> dict:
    return {"botId": bot_id, "botToken": token} if token else {"botId": bot_id}


def refuse_offset(method: str, params: Mapping) -> None:
    """Raise OffsetRefused for an Event.get that would acknowledge events, alone or in a batch."""
    if method.lower() == EVENT_GET.lower() and _has_forbidden(params):
        raise OffsetRefused(f"{EVENT_GET} with an offset would delete the bot's events")
    if method.lower() != "batch":
        return
    commands = params.get("cmd") or {}
    for command in commands.values() if isinstance(commands, Mapping) else commands:
        parts = urlsplit(str(command))
        if parts.path.lower() == EVENT_GET.lower() and _has_forbidden(dict(parse_qsl(parts.query))):
            raise OffsetRefused(f"a batch command {EVENT_GET} with an offset would delete the bot's events")


def _has_forbidden(params: Mapping) -> bool:
    return any(str(name).lower() in FORBIDDEN_EVENT_PARAMS for name in params)


def apply_side_answer(result: BotResult, call: SideCall, value, time, error_code: str | None) -> None:
    """Fold one health call's answer (its `result`, `time`, or error code) into the bot's result."""
    if result.status != Status.OK or result.response_format != ResponseFormat.EXTENDED:
        return
    if error_code == "BOT_OWNERSHIP_ERROR":
        # The owner-only call says what Bot.get did not: the token no longer owns the bot.
        result.status = Status.NOT_OWNER
        result.error_code = error_code
        result.error_description = (
            f"{call.method} answered BOT_OWNERSHIP_ERROR: the bot token was rotated or is not the owner's"
        )
        return
    if error_code:
        result.side_notes.append(f"{call.method} not answered: {error_code}")
        return
    if call.kind == "events":
        if result.fields.get("eventMode") != "fetch":
            return  # planned on an older mode; the fresh answer says webhook
        peek = parse_event_peek(value, time if isinstance(time, Mapping) else None)
        if peek is None:
            result.side_notes.append(f"{call.method}: answer without a readable events list")
        result.event_peek = peek
    elif call.kind == "commands":
        names = parse_command_names(value)
        if names is None:
            result.side_notes.append(f"{call.method}: answer without a readable commands list")
        result.command_names = names
