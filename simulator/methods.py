"""The REST methods the simulator implements, and the shapes of their answers.

Each method takes (portal, caller, params, rng, now) and returns the `result` value or raises RestError.
"""

import math
import random
from dataclasses import dataclass
from datetime import UTC, datetime

from simulator import dialogs, health
from simulator.errors import RestError
from simulator.state import BotState, PortalState

REVISION = {"rest": 36, "web": 130, "mobile": 27, "desktop": 16}
BATCH_MAX_COMMANDS = 50


@dataclass
class Caller:
    """Who calls: a webhook (the bot owner then comes from botToken) or an OAuth app."""

    kind: str  # "webhook" | "oauth"
    key: str  # operating budgets are kept per method x this key
    client_id: str | None = None  # the app's client_id under OAuth
    user_id: int = 1  # the user the call acts for
    scope: str = "imbot,im"


def param(params: dict, *names: str) -> str | None:
    """The first of the aliases that is passed; an empty string counts as not passed (notes §1.1)."""
    for name in names:
        value = params.get(name)
        if value is not None and value != "":
            return str(value) if not isinstance(value, str) else value
    return None


def as_int(value: str | None) -> int:
    try:
        return int(value) if value is not None else 0
    except ValueError:
        return 0


def is_true(value) -> bool:
    """Booleans arrive as JSON true/false, 1/0 or the strings Y/N/1/TRUE (notes §1.1)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0
    return str(value).strip().upper() in {"Y", "1", "TRUE"}


def resolve_client_id(caller: Caller, params: dict, legacy: bool = False) -> str:
    """Webhook callers own bots through "custom" + botToken; OAuth callers through their app (notes §2.1, §2.2)."""
    if caller.kind == "oauth":
        return caller.client_id or ""
    token = param(params, "botToken", "BOT_TOKEN")
    if token is not None:
        return "custom" + token
    client_id = param(params, "CLIENT_ID", "clientId")
    if client_id is not None:
        return client_id
    # Before Revision 34 the same mistake answered CLIENT_ID_NOT_SPECIFIED (notes §1.2, BOT-FIX-0408-6).
    raise RestError("CLIENT_ID_NOT_SPECIFIED" if legacy else "BOT_TOKEN_NOT_SPECIFIED")


def find_requested_bot(portal: PortalState, params: dict) -> BotState:
    """botId first, then the first bot with that code, whatever its app (notes §1.2)."""
    bot_id = as_int(param(params, "botId", "BOT_ID"))
    code = param(params, "code", "CODE")
    if bot_id > 0:
        bot = portal.bots.get(bot_id)
    elif code is not None:
        bot = portal.bot_by_code(code)
    else:
        raise RestError("PARAMS_REQUIRED")
    if bot is None:
        raise RestError("BOT_NOT_FOUND")
    return bot


def bots_named(portal: PortalState, params: dict) -> set[str]:
    """Ids and codes a call is about, so that a fault for one bot matches by either."""
    names = {v for v in (param(params, "botId", "BOT_ID"), param(params, "code", "CODE")) if v}
    for name in list(names):
        bot = portal.bot_by_code(name) or (portal.bots.get(int(name)) if name.isdigit() else None)
        if bot is not None:
            names |= {str(bot.id), bot.code}
    return names


def require_owner(portal: PortalState, caller: Caller, params: dict) -> BotState:
    """The owner-only imbot.v2 methods: botId is required, and only the bot's own app or botToken may ask.

    The general BotController errors, in their documented order (change-log BOT-NEW-0408-1).
    """
    client_id = resolve_client_id(caller, params, portal.legacy)
    bot_id = as_int(param(params, "botId", "BOT_ID"))
    if bot_id <= 0:
        raise RestError("BOT_ID_REQUIRED")
    bot = portal.bots.get(bot_id)
    if bot is None:
        raise RestError("BOT_NOT_FOUND")
    if bot.client_id != client_id:
        raise RestError("BOT_OWNERSHIP_ERROR")
    return bot


def bot_get(portal: PortalState, caller: Caller, params: dict, rng: random.Random, now: float) -> dict:
    """Extended for the owner, brief for anyone else; a retired token may get BOT_OWNERSHIP_ERROR instead.

    The docs (bot-update.md) and the controller code disagree on a rotated token: the portal chooses
    (ownership_error_on_get); the default is the brief format of the code.
    """
    client_id = resolve_client_id(caller, params, portal.legacy)
    bot = find_requested_bot(portal, params)
    token = param(params, "botToken", "BOT_TOKEN")
    if portal.ownership_error_on_get and caller.kind == "webhook" and token in bot.retired_tokens:
        raise RestError("BOT_OWNERSHIP_ERROR")
    bot.grow(rng)
    fields = bot.extended() if bot.client_id == client_id else bot.brief()
    if portal.legacy and bot.client_id == client_id:
        fields["appId"] = bot.client_id  # removed from responses in Revision 35 (notes §1.7)
    return {"bot": fields, "users": [bot.user()]}


def bot_list(portal: PortalState, caller: Caller, params: dict, rng: random.Random, now: float) -> dict:
    """Only the caller's own bots; hasNextPage is `returned == limit`, a documented quirk (notes §1.3)."""
    client_id = resolve_client_id(caller, params, portal.legacy)
    limit = as_int(param(params, "limit")) or 50
    offset = as_int(param(params, "offset"))
    wanted_type = param(params.get("filter") or {}, "type") if isinstance(params.get("filter"), dict) else None
    own = [b for b in portal.bots.values() if b.client_id == client_id and wanted_type in (None, b.type)]
    page = own[offset : offset + limit]
    return {"bots": [b.extended() for b in page], "users": [b.user() for b in page], "hasNextPage": len(page) == limit}


def revision_get(portal: PortalState, caller: Caller, params: dict, rng: random.Random, now: float) -> dict:
    return dict(REVISION)


def event_get(portal: PortalState, caller: Caller, params: dict, rng: random.Random, now: float) -> dict:
    """The fetch queue, oldest first. Only `offset > 0` acknowledges: it deletes the events with id < offset.

    Without an offset (or 0) the queue is only read; events older than 24 h are gone without notice
    (as Bitrix24's event service does).
    """
    bot = require_owner(portal, caller, params)
    kept = health.expire(bot.events, now)
    portal.stats["events_expired"] += len(bot.events) - len(kept)
    offset = as_int(next((str(v) for k, v in params.items() if k.lower() == "offset"), None))
    if offset > 0:
        before = len(kept)
        kept = [e for e in kept if e["id"] >= offset]
        portal.stats["events_deleted"] += before - len(kept)
    bot.events = kept
    limit = health.clamp_limit(as_int(param(params, "limit", "LIMIT")))
    return health.event_page(kept, limit, max(offset, 0))


def command_list(portal: PortalState, caller: Caller, params: dict, rng: random.Random, now: float) -> dict:
    bot = require_owner(portal, caller, params)
    return {"commands": [dict(c) for c in bot.commands]}


def message_add(portal: PortalState, caller: Caller, params: dict, rng: random.Random, now: float) -> int:
    """im.message.add: DIALOG_ID is `chatN` (a chat) or a user's id (their private chat); answers the message id.

    The message is kept on the portal (PortalState.messages) so that tests can read what was posted;
    a bot it is written to answers as its backend's behaviour says (simulator.dialogs).
    """
    dialogs.refuse_without_im(caller.scope)
    dialog = param(params, "DIALOG_ID", "dialog_id") or ""
    if dialog.lower().startswith("chat"):
        if as_int(dialog[4:]) <= 0:
            raise RestError("CHAT_ID_EMPTY")
    elif as_int(dialog) <= 0:
        raise RestError("USER_ID_EMPTY")
    text = param(params, "MESSAGE", "message")
    if text is None:
        raise RestError("MESSAGE_EMPTY")
    deliver_answers(portal, now)
    listeners = answering_bots(portal, dialog)
    if any(bot.answer.mode == "refuse" for bot in listeners):
        raise RestError("ACCESS_DENIED", "Access denied")
    system = is_true(params.get("SYSTEM", False))
    message = {"id": new_message_id(portal), "dialog_id": dialog, "message": text, "system": system}
    portal.messages.append(message)
    chat = dialogs.chat_key(caller.user_id, dialog)
    dialogs.note_message(portal.dialogs, message["id"], chat, caller.user_id, text, now)
    for bot in listeners:
        dialogs.plan_answer(portal.dialogs, bot.answer, bot.id, chat, text, now)
    return message["id"]


def answering_bots(portal: PortalState, dialog: str) -> list[BotState]:
    """The bots whose backend gets a message written to this dialog: the bot itself, or those in the chat."""
    if dialog.lower().startswith("chat"):
        return [b for b in portal.bots.values() if b.answer is not None and b.answer.chat == dialog.lower()]
    bot = portal.bots.get(as_int(dialog))
    return [bot] if bot is not None and bot.answer is not None else []


def new_message_id(portal: PortalState) -> int:
    portal.next_message_id += 1
    return portal.next_message_id - 1


def deliver_answers(portal: PortalState, now: float) -> None:
    """The answers due by now are written (each adds to its bot's countMessage)."""
    for message in dialogs.deliver_due(portal.dialogs, now, lambda: new_message_id(portal)):
        bot = portal.bots.get(message["author_id"])
        if bot is not None:
            bot.counters["countMessage"] += 1


def dialog_messages_get(portal: PortalState, caller: Caller, params: dict, rng: random.Random, now: float) -> dict:
    """im.dialog.messages.get: messages after FIRST_ID (or before LAST_ID), at most LIMIT, newest first."""
    dialogs.refuse_without_im(caller.scope)
    dialog = param(params, "DIALOG_ID", "dialog_id") or ""
    if not dialog.lower().startswith("chat") and as_int(dialog) <= 0:
        raise RestError("DIALOG_ID_EMPTY")
    if dialog.lower().startswith("chat") and as_int(dialog[4:]) <= 0:
        raise RestError("CHAT_ID_EMPTY")
    deliver_answers(portal, now)
    chat = dialogs.chat_key(caller.user_id, dialog)
    found = dialogs.read_dialog(
        portal.dialogs,
        chat,
        as_int(param(params, "FIRST_ID", "first_id")),
        as_int(param(params, "LAST_ID", "last_id")),
        as_int(param(params, "LIMIT", "limit")),
    )
    chat_id = dialogs.chat_number(chat)
    authors = sorted({m["author_id"] for m in found})
    users = [portal.bots[a].user() if a in portal.bots else {"id": a, "active": True, "bot": False} for a in authors]
    return {"chat_id": chat_id, "messages": [dialogs.message_answer(m, chat_id) for m in found], "users": users,
            "files": []}  # fmt: skip


def server_time(portal: PortalState, caller: Caller, params: dict, rng: random.Random, now: float) -> str:
    """The portal's clock, ISO 8601 (api-reference/common/system/server-time.md): what a health check calls."""
    return datetime.fromtimestamp(now, UTC).isoformat(timespec="seconds")


def profile(portal: PortalState, caller: Caller, params: dict, rng: random.Random, now: float) -> dict | list:
    """The acting user (profile.md): "If the user is inactive, the object is empty", which PHP sends as `[]`.

    Whether a switched-off user's webhook still answers other methods is not documented; here it does,
    so that only `profile` tells (https://apidocs.bitrix24.com/api-reference/common/users/profile.html).
    """
    if not portal.user_active:
        return []
    user_id = portal.webhook_user_id or 1
    return {"ID": str(user_id), "ADMIN": True, "NAME": "Portal", "LAST_NAME": "Admin",
            "PERSONAL_GENDER": "", "TIME_ZONE": ""}  # fmt: skip


def app_info(portal: PortalState, caller: Caller, params: dict, rng: random.Random, now: float) -> dict:
    """The application (app-info.md); through a webhook only its scopes and the plan (rest_provider.php appInfo)."""
    if caller.kind == "webhook":
        return {"SCOPE": ["imbot", "basic"], "LICENSE": portal.license}
    app = portal.apps[caller.client_id or ""]
    days = None if app.paid_until is None else math.floor((app.paid_until - now) / 86400)
    expired = app.paid_until is not None and now >= app.paid_until
    family = portal.license.partition("_")[2].rstrip("0123456789") or portal.license
    return {
        "ID": str(app.number),
        "CODE": app.client_id,
        "VERSION": 1,
        "STATUS": app.status,
        "INSTALLED": app.install_finished,
        "PAYMENT_EXPIRED": "Y" if expired else "N",
        "DAYS": days,
        "LANGUAGE_ID": "en",
        "LICENSE": portal.license,
        "LICENSE_TYPE": family,
        "LICENSE_FAMILY": family,
    }


METHODS = {
    "server.time": server_time,
    "profile": profile,
    "app.info": app_info,
    "imbot.v2.bot.get": bot_get,
    "imbot.v2.bot.list": bot_list,
    "imbot.v2.revision.get": revision_get,
    "imbot.v2.event.get": event_get,
    "imbot.v2.command.list": command_list,
    "im.message.add": message_add,
    "im.dialog.messages.get": dialog_messages_get,
}
EVENT_GET = "imbot.v2.event.get"


def note_event_get(portal: PortalState, params: dict) -> None:
    """Every Event.get that reaches the portal, refused or not: the names it sent, and whether one was an offset."""
    portal.stats["event_get_params"].append(tuple(sorted(params)))
    if any(str(k).lower() == "offset" for k in params):
        portal.stats["event_get_with_offset"] += 1


def time_object(start: float, processing: float, latency: float, operating: float | None, reset_at: int | None) -> dict:
    """The `time` object of every successful answer (notes §6); operating fields as the cloud sends them."""
    finish = start + latency + processing
    out = {
        "start": round(start, 6),
        "finish": round(finish, 6),
        "duration": round(finish - start, 6),
        "processing": round(processing, 6),
        "date_start": datetime.fromtimestamp(start, UTC).isoformat(timespec="seconds"),
        "date_finish": datetime.fromtimestamp(finish, UTC).isoformat(timespec="seconds"),
    }
    if operating is not None:
        out["operating"] = round(operating, 6)
        out["operating_reset_at"] = reset_at
    return out


def split_command(command) -> tuple[str, str]:
    """`"imbot.v2.Bot.get?code=x&botToken=y"` -> ("imbot.v2.bot.get", "code=x&botToken=y")."""
    if not isinstance(command, str):
        raise RestError("INVALID_REQUEST", "batch command must be a string 'method?params'")
    method, _, query = command.partition("?")
    return normalize_method(method), query


def normalize_method(method: str) -> str:
    method = method.strip().strip("/")
    for suffix in (".json", ".xml"):
        if method.lower().endswith(suffix):
            method = method[: -len(suffix)]
    return method.lower()


def php_collection(values: dict[str, object], from_list: bool) -> dict | list:
    """Serializes like PHP's json_encode: an empty array is `[]`, a 0..n-1 keyed array a list (notes §4)."""
    if not values:
        return []
    if from_list and list(values) == [str(i) for i in range(len(values))]:
        return list(values.values())
    return values


def batch_commands(params: dict) -> tuple[list[tuple[str, str, str]], bool]:
    """[(key, method, query)], and whether cmd came as a list; checks the length and nesting rules."""
    cmd = params.get("cmd") or {}
    if not isinstance(cmd, dict | list):
        raise RestError("INVALID_REQUEST", "cmd must be an object or an array")
    from_list = isinstance(cmd, list)
    items = [(str(i), c) for i, c in enumerate(cmd)] if from_list else [(str(k), c) for k, c in cmd.items()]
    if len(items) > BATCH_MAX_COMMANDS:
        raise RestError("ERROR_BATCH_LENGTH_EXCEEDED")
    commands = [(key, *split_command(c)) for key, c in items]
    if any(method == "batch" for _, method, _ in commands):
        raise RestError("ERROR_BATCH_METHOD_NOT_ALLOWED")
    return commands, from_list
