"""Pure classification of one Bitrix24 answer into the status taxonomy (docs/statuses.md).

No I/O here: the client hands in what came over the wire (HTTP status, body bytes) or the
kind of transport failure, and gets a BotResult back. Nothing in this module may raise on
a body, however broken; a body Bitrix24 should never send becomes `bad_response`.
"""

import json
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from itertools import islice
from typing import Any

from checks.bitrix24.types import BotResult, EventPeek
from checks.net.client import TransportFailure
from checks.status import ResponseFormat, Status

COUNTERS = ("countMessage", "countCommand", "countChat", "countUser")

# Error codes with a meaning of their own; anything else falls back on the HTTP status.
CODE_STATUS: dict[str, Status] = {
    # imbot.v2 BotController
    "BOT_NOT_FOUND": Status.NOT_FOUND,
    "BOT_TOKEN_NOT_SPECIFIED": Status.MISCONFIGURED,
    # Before Revision 34 (8 Apr 2026) a webhook call without botToken got this code instead.
    "CLIENT_ID_NOT_SPECIFIED": Status.MISCONFIGURED,
    "PARAMS_REQUIRED": Status.MISCONFIGURED,
    "BOT_ID_REQUIRED": Status.MISCONFIGURED,
    # What owner-only methods (and, per imbot.v2.Bot.update's page, Bot.get) answer a rotated
    # or foreign botToken (https://apidocs.bitrix24.com/api-reference/chat-bots/chat-bots-v2/change-log.html).
    "BOT_OWNERSHIP_ERROR": Status.NOT_OWNER,
    # System errors, any method
    "INVALID_REQUEST": Status.MISCONFIGURED,  # "Https required"
    "ERROR_METHOD_NOT_FOUND": Status.MISCONFIGURED,
    "NO_AUTH_FOUND": Status.AUTH_FAILED,
    "expired_token": Status.AUTH_FAILED,
    "invalid_token": Status.AUTH_FAILED,
    "INVALID_CREDENTIALS": Status.AUTH_FAILED,
    "insufficient_scope": Status.AUTH_FAILED,
    "user_access_error": Status.AUTH_FAILED,
    # Known only from SDKs as 401 classes (b24pysdk errors/__init__.py)
    "ERROR_OAUTH": Status.AUTH_FAILED,
    "APPLICATION_NOT_FOUND": Status.AUTH_FAILED,
    "authorization_error": Status.AUTH_FAILED,
    "METHOD_CONFIRM_WAITING": Status.AUTH_FAILED,
    # OAuth server (settings/oauth/error-codes.md), seen when a token refresh fails
    "invalid_grant": Status.AUTH_FAILED,
    "invalid_client": Status.AUTH_FAILED,
    "invalid_request": Status.AUTH_FAILED,
    "invalid_scope": Status.AUTH_FAILED,
    "PAYMENT_REQUIRED": Status.AUTH_FAILED,
    "ACCESS_DENIED": Status.PORTAL_UNAVAILABLE,  # plan without REST
    "PORTAL_DELETED": Status.PORTAL_UNAVAILABLE,
    "OVERLOAD_LIMIT": Status.PORTAL_UNAVAILABLE,  # manual block, only support lifts it
    "QUERY_LIMIT_EXCEEDED": Status.RATE_LIMITED,
    "OPERATION_TIME_LIMIT": Status.RATE_LIMITED,
    "INTERNAL_SERVER_ERROR": Status.SERVER_ERROR,
    "ERROR_UNEXPECTED_ANSWER": Status.SERVER_ERROR,
}

MAX_DESCRIPTION = 500


# Failures that no retry or patience cures: the address needs fixing (misconfigured).
ADDRESS_FAILURES = frozenset({TransportFailure.INVALID_ADDRESS, TransportFailure.REFUSED_ADDRESS})


def status_for_code(code: str, http_status: int | None) -> Status:
    """The status an error code stands for; unknown codes fall back on their HTTP status."""
    if code in CODE_STATUS:
        return CODE_STATUS[code]
    return status_for_http(http_status)


def status_for_http(http_status: int | None) -> Status:
    if http_status in (401, 403):
        return Status.AUTH_FAILED
    if http_status in (429, 503):
        return Status.RATE_LIMITED
    if http_status is not None and 500 <= http_status <= 599:
        return Status.SERVER_ERROR
    return Status.ERROR


def parse_json(body: bytes | str | None) -> Any:
    """The decoded JSON value, or None when the body is not JSON (never raises)."""
    if body is None:
        return None
    try:
        if isinstance(body, bytes):
            body = body.decode("utf-8-sig")
        return json.loads(body, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None


def _reject_constant(name: str) -> None:
    # NaN and Infinity are not JSON; treating them as "not JSON" keeps floats finite below.
    raise ValueError(f"{name} is not valid JSON")


def error_fields(payload: Any) -> tuple[str, str] | None:
    """(error, error_description) when the payload is a Bitrix24 error envelope."""
    if not isinstance(payload, Mapping):
        return None
    code = payload.get("error")
    if code is None or code == "" or isinstance(code, (dict, list, bool)):
        return None
    return str(code)[:100], clean_text(payload.get("error_description"))


def clean_text(value: Any) -> str:
    if value is None or isinstance(value, (dict, list)):
        return ""
    text = " ".join(str(value).split())
    return text[:MAX_DESCRIPTION]


def classify_error(code: str, description: str, http_status: int | None, *, duration_ms: int = 0) -> BotResult:
    return BotResult(
        bot_pk=None,
        status=status_for_code(code, http_status),
        error_code=code,
        error_description=description or code,
        http_status=http_status,
        duration_ms=duration_ms,
    )


def classify_response(
    http_status: int, body: bytes | str | None, content_type: str = "", *, duration_ms: int = 0
) -> BotResult:
    """Any HTTP answer to imbot.v2.Bot.get (redirects are the client's business)."""
    payload = parse_json(body)
    error = error_fields(payload)
    if error is not None:
        return classify_error(error[0], error[1], http_status, duration_ms=duration_ms)
    if 200 <= http_status <= 299:
        return classify_success(payload, http_status, content_type, body, duration_ms=duration_ms)
    return _classify_codeless(http_status, payload, content_type, body, duration_ms)


def _classify_codeless(
    http_status: int, payload: Any, content_type: str, body: bytes | str | None, duration_ms: int
) -> BotResult:
    # An error page from a proxy or the web server in front of Bitrix24: no code to record.
    kind = "JSON without an error code" if payload is not None else _describe_body(content_type, body)
    # Without a code, any 5xx page (a 503 from nginx included) is a server error; the
    # 429/503 -> rate_limited fallback is for unknown Bitrix24 codes.
    status = Status.SERVER_ERROR if 500 <= http_status <= 599 else status_for_http(http_status)
    return BotResult(
        bot_pk=None,
        status=status,
        http_status=http_status,
        error_description=f"HTTP {http_status}: {kind}",
        duration_ms=duration_ms,
    )


def _describe_body(content_type: str, body: bytes | str | None) -> str:
    size = len(body) if body else 0
    if not size:
        return "empty body"
    kind = clean_text(content_type.split(";")[0]) or "unknown type"
    return f"body is not JSON ({kind[:60]}, {size} bytes)"


def classify_success(
    payload: Any, http_status: int, content_type: str = "", body: bytes | str | None = None, *, duration_ms: int = 0
) -> BotResult:
    """A 2xx answer: it must be JSON with result.bot; counters decide owner or not."""
    if payload is None:
        return _bad(http_status, _describe_body(content_type, body), duration_ms)
    if not isinstance(payload, Mapping):
        return _bad(http_status, "JSON body is not an object", duration_ms)
    result = payload.get("result")
    time = payload.get("time")
    return classify_bot_payload(result, time, http_status, duration_ms=duration_ms)


def classify_bot_payload(result: Any, time: Any, http_status: int | None, *, duration_ms: int = 0) -> BotResult:
    """The `result` of Bot.get ({bot, users}) with its `time`: single call or one batch entry."""
    if not isinstance(result, Mapping):
        return _bad(http_status, "answer has no result object", duration_ms)
    bot = result.get("bot")
    if not isinstance(bot, Mapping) or not bot:
        return _bad(http_status, "answer has no result.bot object", duration_ms)
    users = result.get("users")
    parsed = BotResult(
        bot_pk=None,
        status=Status.OK,
        http_status=http_status,
        duration_ms=duration_ms,
        fields=_plain(bot),
        users=_plain(users) if isinstance(users, list) else [],
        time=parse_time(time),
    )
    if not any(name in bot for name in COUNTERS):
        # Bot.get never fails for a caller that is not the owner: it answers in the brief format.
        parsed.status = Status.NOT_OWNER
        parsed.response_format = ResponseFormat.BRIEF
        parsed.error_description = "brief format without counters: bot token wrong or rotated, or not the owner app"
        return parsed
    counters, problem = parse_counters(bot)
    if problem:
        return _bad(http_status, problem, duration_ms)
    parsed.response_format = ResponseFormat.EXTENDED
    parsed.counters = counters
    return parsed


def parse_counters(bot: Mapping) -> tuple[dict[str, int] | None, str]:
    """The four counters as ints, or a description of what is wrong with them."""
    counters = {}
    for name in COUNTERS:
        value = bot.get(name)
        number = _as_int(value)
        if number is None:
            return None, f"counter {name} is {'missing' if value is None else 'not a whole number'}"
        counters[name] = number
    return counters, ""


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        # Counters go into BIGINT columns.
        return value if abs(value) < 2**63 else None
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return _as_int(int(value))
    if isinstance(value, str) and value.strip().lstrip("-").isdigit() and len(value) < 20:
        return _as_int(int(value))
    return None


def parse_time(time: Any) -> dict:
    """The `time` object's known fields as numbers or strings; anything odd is dropped."""
    if not isinstance(time, Mapping):
        return {}
    parsed: dict[str, Any] = {}
    for name in ("start", "finish", "duration", "processing", "operating", "operating_reset_at"):
        value = time.get(name)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            parsed[name] = value
    for name in ("date_start", "date_finish"):
        if isinstance(time.get(name), str):
            parsed[name] = time[name][:40]
    return parsed


def classify_transport(failure: TransportFailure, detail: str = "", *, duration_ms: int = 0) -> BotResult:
    """No HTTP answer at all: DNS, refused connection, TLS, timeout, reset; or an address unfit to call."""
    description = failure.value + (f": {clean_text(detail)}" if detail else "")
    status = Status.MISCONFIGURED if failure in ADDRESS_FAILURES else Status.UNREACHABLE
    return BotResult(bot_pk=None, status=status, error_description=description, duration_ms=duration_ms)


def _bad(http_status: int | None, description: str, duration_ms: int) -> BotResult:
    return BotResult(
        bot_pk=None,
        status=Status.BAD_RESPONSE,
        http_status=http_status,
        error_description=f"HTTP {http_status}: {description}" if http_status else description,
        duration_ms=duration_ms,
    )


def _plain(value: Any, depth: int = 0) -> Any:
    """A JSON-safe copy (bounded depth) fit for a JSONField, whatever the portal sent."""
    if depth > 8:
        return None
    # What json.loads makes, by exact type first: isinstance against the Mapping ABC on every
    # value of every bot was the biggest CPU cost of parsing a batch answer.
    kind = type(value)
    if kind is str:
        return value[:1000]
    if kind is int or kind is bool or value is None:
        return value
    if kind is dict:
        return {(k if type(k) is str else str(k))[:100]: _plain(v, depth + 1) for k, v in islice(value.items(), 100)}
    if kind is list:
        return [_plain(v, depth + 1) for v in value[:100]]
    if isinstance(value, Mapping):
        return {str(k)[:100]: _plain(v, depth + 1) for k, v in list(value.items())[:100]}
    if isinstance(value, list):
        return [_plain(v, depth + 1) for v in value[:100]]
    if isinstance(value, str):
        return value[:1000]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def as_bool(value: Any) -> bool | None:
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float):
        return value != 0
    text = str(value).strip().upper()
    return text in {"Y", "1", "TRUE"} if text else None


def bot_id_of(fields: Mapping) -> int | None:
    value = fields.get("id")
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def parse_event_peek(result: Any, time: Mapping | None) -> EventPeek | None:
    """The `result` of Event.get (limit 1): the oldest event's date, or None when unreadable."""
    if not isinstance(result, Mapping):
        return None
    events = result.get("events")
    if not isinstance(events, list):
        return None
    portal_now = parse_moment((time or {}).get("start")) or parse_moment((time or {}).get("date_start"))
    if not events:
        return EventPeek(None, portal_now)
    first = events[0] if isinstance(events[0], Mapping) else {}
    oldest = parse_moment(first.get("date"))
    return EventPeek(oldest, portal_now) if oldest is not None else None


def parse_command_names(result: Any) -> list[str] | None:
    """The command names of a Command.list `result`, or None when unreadable."""
    commands = result.get("commands") if isinstance(result, Mapping) else None
    if not isinstance(commands, list):
        return None
    return [str(c["command"])[:100] for c in commands if isinstance(c, Mapping) and c.get("command")]


def parse_moment(value: Any) -> datetime | None:
    """An ISO 8601 string (the portal's format) or Unix seconds; None for anything else."""
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        try:
            return datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if isinstance(value, str) and 10 <= len(value) <= 40:
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return None
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return None
