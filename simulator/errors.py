"""Bitrix24 error codes with their documented HTTP status and text, and the simulator's injectable faults.

The table follows the system-errors include of every REST method page and the imbot.v2
controller errors listed on the imbot.v2 method pages
(https://apidocs.bitrix24.com/api-reference/chat-bots/chat-bots-v2/imbot.v2/bots/bot-get.html).
"""

import json
from collections.abc import Callable
from dataclasses import dataclass

# code -> (HTTP status, error_description as documented)
ERRORS: dict[str, tuple[int, str]] = {
    "INTERNAL_SERVER_ERROR": (500, "Internal server error"),
    "ERROR_UNEXPECTED_ANSWER": (500, "Server returned an unexpected response"),
    "QUERY_LIMIT_EXCEEDED": (503, "Too many requests"),
    "OPERATION_TIME_LIMIT": (429, "Method is blocked due to operation time limit"),
    "ERROR_BATCH_METHOD_NOT_ALLOWED": (405, "Method is not allowed for batch usage"),
    "ERROR_BATCH_LENGTH_EXCEEDED": (400, "Max batch length exceeded"),
    "NO_AUTH_FOUND": (401, "Wrong authorization data"),
    "INVALID_REQUEST": (400, "Https required"),
    "OVERLOAD_LIMIT": (503, "REST API is blocked due to overload"),
    "ACCESS_DENIED": (403, "REST API is available only on commercial plans"),
    "INVALID_CREDENTIALS": (403, "Invalid request credentials"),
    "ERROR_MANIFEST_IS_NOT_AVAILABLE": (404, "Manifest is not available"),
    "insufficient_scope": (403, "The request requires higher privileges than provided by the webhook token"),
    "expired_token": (401, "The access token provided has expired"),
    # Not in the official table; status and text as b24pysdk files it (notes §2.4).
    "invalid_token": (401, "Unable to get application by token"),
    "user_access_error": (403, "The user does not have access to the application"),
    "PORTAL_DELETED": (500, "Portal was deleted"),
    "ERROR_METHOD_NOT_FOUND": (404, "Method not found!"),
    # imbot.v2 controller errors: a RestException without a status is sent as 400 (notes §5.2).
    "BOT_TOKEN_NOT_SPECIFIED": (400, "Bot token not specified (botToken is required for webhook auth)"),
    "PARAMS_REQUIRED": (400, "botId or code is required"),
    "BOT_NOT_FOUND": (400, "Bot not found"),
    "BOT_ID_REQUIRED": (400, "botId is required"),
    "BOT_OWNERSHIP_ERROR": (400, "Bot was installed by another rest application"),
    # Webhook call without botToken before Revision 34 (notes §1.2); the text is not documented.
    "CLIENT_ID_NOT_SPECIFIED": (400, "Client ID not specified"),
    # im.message.add (its method page lists the codes, not the statuses: 400 as for any RestException).
    "USER_ID_EMPTY": (400, "Recipient ID not specified for person-to-person chat message"),
    "CHAT_ID_EMPTY": (400, "Message recipient chat not specified for a chat message"),
    "MESSAGE_EMPTY": (400, "Message text not passed"),
    "ACCESS_ERROR": (400, "Insufficient access permissions to send the message"),
}

# Errors of the OAuth server (oauth.bitrix.info); the docs give no statuses (notes §2.3).
OAUTH_ERRORS: dict[str, tuple[int, str]] = {
    "invalid_request": (400, "Invalid request"),
    "invalid_grant": (400, "Invalid refresh token"),
    "invalid_client": (401, "Invalid client credentials or application not installed"),
}

# Faults that do not answer with a Bitrix24 error body.
TRANSPORT_FAULTS = frozenset(
    {"html_500", "html_502", "not_json", "no_result_bot", "truncated_json", "oversized", "timeout", "reset", "custom"}
    | {"trickle", "trickle_headers", "redirect", "set_cookie"}
)
FAULT_KINDS = frozenset(ERRORS) | frozenset(OAUTH_ERRORS) | TRANSPORT_FAULTS
DEFAULT_TIMEOUT_SLEEP_S = 30.0
DEFAULT_TRICKLE_INTERVAL_S = 1.0
OVERSIZED_BYTES = 3 * 1024 * 1024


@dataclass
class Reply:
    """What the HTTP layer sends back. `delay_s` is slept outside any lock; `reset` closes without answering.

    trickle "body": the headers, then the body one byte per `trickle_every_s`; "headers": the status line,
    then an endless header one byte at a time. Either for at most `trickle_for_s`, then the connection closes.
    `on_sent` is called once the handler is done with the reply (written, cut or reset).
    """

    status: int
    body: bytes = b""
    content_type: str = "application/json; charset=utf-8"
    headers: dict[str, str] | None = None
    delay_s: float = 0.0
    reset: bool = False
    trickle: str = ""
    trickle_every_s: float = DEFAULT_TRICKLE_INTERVAL_S
    trickle_for_s: float = DEFAULT_TIMEOUT_SLEEP_S
    on_sent: Callable[[], None] | None = None


class RestError(Exception):
    """A Bitrix24 error answer: `{"error": code, "error_description": text}` with its HTTP status."""

    def __init__(self, code: str, description: str | None = None, http_status: int | None = None):
        status, text = ERRORS.get(code) or OAUTH_ERRORS.get(code) or (400, code)
        self.code = code
        self.description = text if description is None else description
        self.http_status = status if http_status is None else http_status
        super().__init__(code)

    def body(self) -> dict:
        return {"error": self.code, "error_description": self.description}

    def reply(self) -> Reply:
        return json_reply(self.http_status, self.body())


class SimulatorError(ValueError):
    """A bad argument to the simulator's Python or control API; the message names the problem."""


def json_reply(status: int, payload: dict, headers: dict[str, str] | None = None) -> Reply:
    body = json.dumps(payload, ensure_ascii=False).encode()
    return Reply(status=status, body=body, headers=headers)


@dataclass
class Fault:
    """One injected fault. times=None and probability=None: fires on every matching call until cleared."""

    kind: str
    bot: str | None = None  # bot code or id (as a string) the fault is limited to
    method: str | None = None  # lower-case REST method the fault is limited to
    times: int | None = None
    probability: float | None = None
    sleep_s: float = DEFAULT_TIMEOUT_SLEEP_S  # timeout: the delay; trickle*: how long the trickle lasts
    interval_s: float = DEFAULT_TRICKLE_INTERVAL_S  # trickle*: seconds between two bytes
    location: str | None = None  # redirect: the Location header
    code: str | None = None  # custom
    http_status: int | None = None  # custom, or to override a kind's status
    description: str | None = None  # custom, or to override a kind's text

    def matches(self, method: str, bots: set[str]) -> bool:
        if self.method is not None and self.method != method:
            return False
        return self.bot is None or self.bot in bots

    def as_dict(self) -> dict:
        return {
            "kind": self.kind,
            "bot": self.bot,
            "method": self.method,
            "times": self.times,
            "probability": self.probability,
        }


def build_fault(kind: str, **params) -> Fault:
    """Validates the arguments of inject_fault and returns the fault."""
    if kind not in FAULT_KINDS:
        raise SimulatorError(f"unknown fault kind {kind!r}; known: {', '.join(sorted(FAULT_KINDS))}")
    fault = Fault(kind=kind, **params)
    if fault.bot is not None:
        fault.bot = str(fault.bot)
    if fault.method is not None:
        fault.method = str(fault.method).lower()
    if fault.times is not None and (not isinstance(fault.times, int) or fault.times < 1):
        raise SimulatorError("times must be a positive integer")
    if fault.probability is not None and not (
        isinstance(fault.probability, int | float) and 0 <= fault.probability <= 1
    ):
        raise SimulatorError("probability must be a number between 0 and 1")
    if kind == "custom" and not fault.code:
        raise SimulatorError("a custom fault needs code (and usually http_status and description)")
    if not isinstance(fault.sleep_s, int | float) or fault.sleep_s < 0:
        raise SimulatorError("sleep_s must be a non-negative number of seconds")
    if not isinstance(fault.interval_s, int | float) or fault.interval_s <= 0:
        raise SimulatorError("interval_s must be a positive number of seconds")
    if kind == "redirect" and not fault.location:
        raise SimulatorError("a redirect fault needs location (the Location header to answer with)")
    return fault


_HTML_PAGE = (
    "<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n"
    "<center><h1>{status} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)


def html_reply(status: int, reason: str) -> Reply:
    body = _HTML_PAGE.format(status=status, reason=reason).encode()
    return Reply(status=status, body=body, content_type="text/html")


def fault_reply(fault: Fault, success_body: dict) -> Reply | None:
    """The answer a fault gives instead of the real one; None for the faults that change how the real
    one is sent (`timeout`, `trickle`, `trickle_headers`, `set_cookie`: see `shape_reply`)."""
    kind = fault.kind
    if kind in ERRORS or kind in OAUTH_ERRORS:
        return RestError(kind, fault.description, fault.http_status).reply()
    if kind == "custom":
        return RestError(fault.code or "CUSTOM", fault.description or "", fault.http_status or 400).reply()
    if kind == "html_500":
        return html_reply(fault.http_status or 500, "Internal Server Error")
    if kind == "html_502":
        return html_reply(fault.http_status or 502, "Bad Gateway")
    if kind == "not_json":
        return Reply(status=200, body=b"<html><body>Bitrix24 is being updated</body></html>", content_type="text/html")
    if kind == "no_result_bot":
        return json_reply(200, {"result": {"users": []}, "time": success_body.get("time", {})})
    if kind == "oversized":
        # Valid JSON of 3 MB: more than any client should read for one answer.
        return json_reply(200, {"result": {"padding": "x" * OVERSIZED_BYTES}, "time": success_body.get("time", {})})
    if kind == "truncated_json":
        body = json.dumps(success_body).encode()
        return Reply(status=200, body=body[: max(1, len(body) // 2)])
    if kind == "reset":
        return Reply(status=0, reset=True)
    if kind == "redirect":
        location = {"Location": str(fault.location)}
        return Reply(status=fault.http_status or 302, content_type="text/html", headers=location)
    return None


def shape_reply(fault: Fault, reply: Reply) -> Reply:
    """The real answer, sent the way the fault says: late, a byte at a time, or with a cookie."""
    if fault.kind == "timeout":
        reply.delay_s = fault.sleep_s
    elif fault.kind in ("trickle", "trickle_headers"):
        reply.trickle = "body" if fault.kind == "trickle" else "headers"
        reply.trickle_every_s, reply.trickle_for_s = fault.interval_s, fault.sleep_s
    elif fault.kind == "set_cookie":
        reply.headers = {**(reply.headers or {}), "Set-Cookie": "sid=simulated-session; Path=/"}
    return reply
