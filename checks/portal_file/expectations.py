"""A bot's `expect`, `backlog_minutes`, `answer` and `silence` as an operator gives them (portal file, forms, API).

Pure: each problem comes back as (place within the value, message), and the caller puts its
own place in front (`portals[0].bots[1]`). The fields are those of imbot.v2.Bot.get
(https://apidocs.bitrix24.com/api-reference/chat-bots/chat-bots-v2/imbot.v2/bots/bot-get.html);
see checks.health.bot for how they are compared.
"""

import re

from checks.health.bot import CONFIG_FIELDS

BOT_TYPES = ("bot", "network", "openline", "personal", "supervisor")
EVENT_MODES = ("fetch", "webhook")
BOOLEANS = ("isHidden", "isSupportOpenline", "isReactionsEnabled")
ALLOWED = (*CONFIG_FIELDS, "commands")
LANGUAGE = re.compile(r"^[a-z]{2}(_[a-z]{2})?$", re.IGNORECASE)
MAX_BACKLOG_MINUTES = 24 * 60  # Bitrix24 keeps a bot's events for 24 h

Problems = list[tuple[str, str]]


def validate_expect(data: object) -> tuple[dict, Problems]:
    """(clean expect, problems); nothing clean is returned when there is a problem."""
    if data is None:
        return {}, []
    if not isinstance(data, dict):
        return {}, [("expect", "must be a mapping of Bot.get fields to their expected values")]
    problems: Problems = []
    for key in data:
        if key not in ALLOWED:
            problems.append(("expect", f"unknown key {key!r} (allowed: {', '.join(sorted(ALLOWED))})"))
    for key in set(data) & set(ALLOWED):
        message = _check(key, data[key])
        if isinstance(message, list):
            problems += message
        elif message:
            problems.append((f"expect.{key}", message))
    if problems:
        return {}, sorted(problems)
    clean = {key: data[key] for key in ALLOWED if key in data}
    if "commands" in clean:
        clean["commands"] = [str(name).strip().lstrip("/") for name in clean["commands"]]
    return clean, []


def _check(key: str, value: object) -> str | list | None:
    if key == "type" and value not in BOT_TYPES:
        return f"must be one of {', '.join(BOT_TYPES)}"
    if key == "eventMode" and value not in EVENT_MODES:
        return "must be fetch or webhook"
    if key == "language" and not (isinstance(value, str) and LANGUAGE.match(value)):
        return "must be a language code such as en or de"
    if key in BOOLEANS and not isinstance(value, bool):
        return "must be true or false"
    if key == "backgroundId" and not (value is None or (isinstance(value, str) and 0 < len(value) <= 50)):
        return "must be null or a background name"
    if key == "commands":
        return _check_commands(value)
    return None


def _check_commands(value: object) -> list | None:
    if not isinstance(value, list):
        return [("expect.commands", "must be a list of command names")]
    problems = []
    seen = set()
    for index, name in enumerate(value):
        place = f"expect.commands[{index}]"
        if not isinstance(name, str) or not name.strip().lstrip("/"):
            problems.append((place, "must be a non-empty command name"))
            continue
        key = name.strip().lstrip("/").lower()
        if key in seen:
            problems.append((place, f"{name!r} is listed twice"))
        seen.add(key)
    return problems or None


def validate_backlog_minutes(value: object) -> str | None:
    """A problem with backlog_minutes, or None (None itself means the default, 15)."""
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_BACKLOG_MINUTES:
        return f"must be a whole number of minutes from 1 to {MAX_BACKLOG_MINUTES}"
    return None


# The answer probe (docs/answer-probe.md): {text, within, every, dialog}.
ANSWER_KEYS = ("text", "within", "every", "dialog")
ANSWER_DEFAULTS = {"within": 30, "every": 900}
MAX_ANSWER_TEXT = 500
MAX_WITHIN = 600  # the longest wait for an answer: ten minutes
MIN_EVERY = 60
MAX_SILENCE = 30 * 86400
DIALOG = re.compile(r"^chat[1-9][0-9]{0,17}$")


def validate_answer(data: object, interval: int | None = None) -> tuple[dict, Problems]:
    """(clean answer with its defaults, problems); {} for none. `every` is never below the bot's interval."""
    if data is None or data == {}:
        return {}, []
    if not isinstance(data, dict):
        return {}, [("answer", "must be a mapping of text, within, every (and dialog)")]
    problems: Problems = [("answer", f"unknown key {key!r} (allowed: {', '.join(ANSWER_KEYS)})")
                          for key in data if key not in ANSWER_KEYS]  # fmt: skip
    text = data.get("text")
    if not isinstance(text, str) or not text.strip() or len(text) > MAX_ANSWER_TEXT:
        problems.append(
            ("answer.text", f"is required: the message written to the bot, at most {MAX_ANSWER_TEXT} characters")
        )
    clean = {"text": text, **ANSWER_DEFAULTS}
    for key, low, high in (("within", 1, MAX_WITHIN), ("every", MIN_EVERY, 7 * 86400)):
        value = data.get(key, ANSWER_DEFAULTS[key])
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            problems.append((f"answer.{key}", f"must be a whole number of seconds from {low} to {high}"))
        clean[key] = value
    if interval is not None and isinstance(clean["every"], int) and clean["every"] < interval:
        problems.append(("answer.every", f"must not be below the portal's interval ({interval} s)"))
    dialog = data.get("dialog")
    if dialog is not None:
        if not isinstance(dialog, str) or not DIALOG.match(dialog):
            problems.append(("answer.dialog", "must be a test chat such as chat123 (empty: the bot's own dialog)"))
        clean["dialog"] = dialog
    if problems:
        return {}, problems
    return clean, []


def validate_silence(value: object) -> str | None:
    """A problem with silence, or None (None itself: no silence rule)."""
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not 60 <= value <= MAX_SILENCE:
        return f"must be a whole number of seconds from 60 to {MAX_SILENCE}"
    return None
