"""A bot's health data beyond Bot.get: its fetch-mode event queue, its slash commands, its config fields.

Pure helpers on plain data (no lock, no clock of their own): the control actions (simulator.actions),
the REST methods (simulator.methods) and the scenario validation (simulator.scenario) share them.
Facts: https://apidocs.bitrix24.com/api-reference/chat-bots/chat-bots-v2/imbot.v2/events/event-get.html.
"""

from datetime import UTC, datetime
from typing import Any

from simulator.errors import SimulatorError

# EventService::EXPIRY_HOURS: rows older than this are deleted by an agent, without notice (§1a).
EVENT_RETENTION_S = 24 * 3600
EVENT_GET_DEFAULT_LIMIT = 100
EVENT_GET_MAX_LIMIT = 1000
EVENT_TYPES = frozenset(
    {
        "ONIMBOTV2MESSAGEADD",
        "ONIMBOTV2MESSAGEUPDATE",
        "ONIMBOTV2MESSAGEDELETE",
        "ONIMBOTV2REACTIONCHANGE",
        "ONIMBOTV2COMMANDADD",
        "ONIMBOTV2JOINCHAT",
        "ONIMBOTV2CONTEXTGET",
        "ONIMBOTV2DELETE",
    }
)

BOT_TYPES = ("bot", "network", "openline", "supervisor", "personal")  # Bot.register: BOT_INVALID_TYPE otherwise
EVENT_MODES = ("webhook", "fetch")
BOOL_FIELDS = {"isHidden": "is_hidden", "isSupportOpenline": "is_support_openline",
               "isReactionsEnabled": "is_reactions_enabled"}  # fmt: skip
# camelCase field of Bot.get / Bot.update -> BotState attribute
CONFIG_FIELDS = {"type": "type", "eventMode": "event_mode", "language": "language", **BOOL_FIELDS,
                 "backgroundId": "background_id"}  # fmt: skip

COMMAND_FIELDS = ("command", "title", "params", "common", "hidden", "extranetSupport", "category", "context")
COMMAND_DEFAULTS: dict[str, Any] = {"params": "", "common": False, "hidden": False, "extranetSupport": False,
                                    "category": "", "context": ""}  # fmt: skip


# ----- config fields (Bot.update) ---------------------------------------------------------


def check_config_fields(fields: Any) -> dict[str, Any]:
    """Validates camelCase config fields like Bot.update does; returns {BotState attribute: value}.

    Raises SimulatorError naming every bad field.
    """
    if not isinstance(fields, dict):
        raise SimulatorError(f"fields must be a mapping of {', '.join(CONFIG_FIELDS)}")
    known = ", ".join(CONFIG_FIELDS)
    problems = [f"unknown field {key!r} (known: {known})" for key in fields if key not in CONFIG_FIELDS]
    out: dict[str, Any] = {}
    for key, value in fields.items():
        if key not in CONFIG_FIELDS:
            continue
        problem = _config_problem(key, value)
        if problem:
            problems.append(f"{key}: {problem}")
        else:
            out[CONFIG_FIELDS[key]] = value
    if problems:
        raise SimulatorError("; ".join(problems))
    return out


def _config_problem(key: str, value: Any) -> str | None:
    if key == "type":
        return None if value in BOT_TYPES else f"must be one of {', '.join(BOT_TYPES)} (BOT_INVALID_TYPE)"
    if key == "eventMode":
        return None if value in EVENT_MODES else "must be webhook or fetch (BOT_INVALID_EVENT_MODE)"
    if key == "language":
        return None if isinstance(value, str) and value.strip() else "must be a non-empty string such as en or de"
    if key in BOOL_FIELDS:
        return None if isinstance(value, bool) else "must be true or false"
    return None if value is None or (isinstance(value, str) and value) else "must be a non-empty string or null"


# ----- slash commands (Command.list) ------------------------------------------------------


def build_commands(commands: Any, bot_id: int, first_id: int) -> list[dict]:
    """Names or dicts to Command.list entries with ids first_id, first_id + 1, …; raises SimulatorError."""
    if not isinstance(commands, list):
        raise SimulatorError("commands must be a list of command names or mappings")
    out, seen = [], set()
    for i, item in enumerate(commands):
        entry = {"command": item} if isinstance(item, str) else item
        if not isinstance(entry, dict):
            raise SimulatorError(f"commands[{i}]: must be a command name or a mapping")
        unknown = sorted(set(entry) - set(COMMAND_FIELDS))
        if unknown:
            known = ", ".join(COMMAND_FIELDS)
            raise SimulatorError(f"commands[{i}]: unknown key(s) {', '.join(unknown)} (known: {known})")
        name = entry.get("command")
        if not isinstance(name, str) or not name.strip():
            raise SimulatorError(f"commands[{i}]: a non-empty command name is required")
        if name in seen:
            raise SimulatorError(f"commands[{i}]: command {name!r} is listed twice")
        seen.add(name)
        for key in ("common", "hidden", "extranetSupport"):
            if key in entry and not isinstance(entry[key], bool):
                raise SimulatorError(f"commands[{i}].{key}: must be true or false")
        for key in ("title", "params", "category", "context"):
            if key in entry and not isinstance(entry[key], str):
                raise SimulatorError(f"commands[{i}].{key}: must be a string")
        out.append({"id": first_id + i, "botId": bot_id, "command": name, "title": entry.get("title", name),
                    **{k: entry.get(k, v) for k, v in COMMAND_DEFAULTS.items()}})  # fmt: skip
    return out


# ----- the fetch-mode event queue (Event.get) ---------------------------------------------


def check_event_args(count: Any, age_s: Any, type: Any) -> None:
    problems = []
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        problems.append("count must be a positive integer")
    if isinstance(age_s, bool) or not isinstance(age_s, int | float) or age_s < 0:
        problems.append("age_s must be a non-negative number of seconds")
    if type not in EVENT_TYPES:
        problems.append(f"type must be one of {', '.join(sorted(EVENT_TYPES))}")
    if problems:
        raise SimulatorError("; ".join(problems))


def make_events(bot_id: int, code: str, first_id: int, count: int, age_s: float, type: str, now: float) -> list[dict]:
    """`count` events, the oldest `age_s` seconds before `now`, the rest spread evenly up to `now`."""
    step = age_s / (count - 1) if count > 1 else 0.0
    return [
        {
            "id": first_id + i,
            "type": type,
            "date": now - age_s + i * step,
            "data": {"bot": {"id": bot_id, "code": code}, "message": {"id": first_id + i, "text": f"message {i + 1}"}},
        }
        for i in range(count)
    ]


def shift_to_oldest_age(events: list[dict], age_s: float, now: float) -> None:
    """Moves every date by the same amount so that the oldest is `age_s` old; none ends in the future."""
    delta = (now - age_s) - min(e["date"] for e in events)
    for event in events:
        event["date"] = min(now, event["date"] + delta)


def expire(events: list[dict], now: float) -> list[dict]:
    """The events still within the 24 h retention (older ones are gone without notice)."""
    return [e for e in events if now - e["date"] <= EVENT_RETENTION_S]


def clamp_limit(limit: int) -> int:
    """`limit` 1..1000, default 100 (event-get.md); 0 or missing is the default, below 1 is 1."""
    return max(1, min(EVENT_GET_MAX_LIMIT, limit or EVENT_GET_DEFAULT_LIMIT))


def event_page(events: list[dict], limit: int, offset: int) -> dict:
    """The answer of Event.get for events already acknowledged up to `offset`; oldest (lowest id) first.

    `hasMore = len(page) >= limit` like EventService (so limit=1 says true whenever one event waits);
    `nextOffset` is the last id + 1, or the offset sent when the page is empty (the reference is silent).
    """
    page = sorted(events, key=lambda e: e["id"])[:limit]
    return {
        "events": [
            {"eventId": e["id"], "type": e["type"], "date": iso_date(e["date"]), "data": e["data"]} for e in page
        ],
        "nextOffset": page[-1]["id"] + 1 if page else offset,
        "hasMore": len(page) >= limit,
    }


def iso_date(epoch: float) -> str:
    """ISO 8601 with an offset, like `time.date_start`: 2026-08-21T08:00:00+00:00."""
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")
