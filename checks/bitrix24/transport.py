"""One HTTP exchange with Bitrix24, within a wall-clock deadline, with secrets masked wherever a URL may be logged.

`exchange` is the only way BotWatch talks HTTP to a portal or the OAuth server: no redirect
followed, at most `max_body` bytes read, and the whole exchange (name resolution, connecting,
TLS, headers and body) within its time, cut by the watchdog when that passes
(checks.bitrix24.deadline). The webhook code sits in the URL path (`/rest/<user>/<code>/<method>`),
and the OAuth refresh sends client_secret and refresh_token in the query string, so every URL
that reaches a log line goes through `mask_url`, and urllib3's own DEBUG lines are filtered
the same way.
"""

import http.cookiejar
import logging
import re
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from functools import cached_property
from typing import Any
from urllib.parse import urlsplit

import requests
import urllib3
from django.views.decorators.debug import sensitive_variables

from checks.bitrix24.connection import AddressRefused, DeadlineAdapter, watching
from checks.bitrix24.deadline import WATCHDOG
from checks.bitrix24.outcome import TransportFailure, error_fields, parse_json

MAX_BODY = 2 * 1024 * 1024  # a Bot.get answer is a few KB; anything this big is not one
_WEBHOOK_PATH = re.compile(r"(/rest/\d+/)[^/?#\s\"']+")
_SECRET_PARAMS = re.compile(
    r"((?:auth|client_secret|refresh_token|access_token|botToken|BOT_TOKEN)=)[^&\s\"']*", re.IGNORECASE
)

_local = threading.local()


def mask_url(url: str) -> str:
    """The URL with the webhook code and secret query parameters replaced by ***."""
    return _SECRET_PARAMS.sub(r"\1***", _WEBHOOK_PATH.sub(r"\1***", url))


class MaskSecretsFilter(logging.Filter):
    """urllib3 logs request paths at DEBUG ("POST /rest/1/<code>/..."); mask them."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            args = record.args if isinstance(record.args, tuple) else (record.args,)
            record.args = tuple(mask_url(a) if isinstance(a, str) else a for a in args)
        record.msg = mask_url(str(record.msg))
        return True


def install_log_filter() -> None:
    logger = logging.getLogger("urllib3.connectionpool")
    if not any(isinstance(f, MaskSecretsFilter) for f in logger.filters):
        logger.addFilter(MaskSecretsFilter())


install_log_filter()


class NoCookies(http.cookiejar.DefaultCookiePolicy):
    """Bitrix24 REST needs no cookies; a thread's session serves every portal, so it keeps none."""

    def set_ok(self, cookie, request) -> bool:
        return False

    def return_ok(self, cookie, request) -> bool:
        return False


def thread_session() -> requests.Session:
    """One Session per thread: its pool keeps connections to each portal alive between calls."""
    session = getattr(_local, "session", None)
    if session is None:
        session = requests.Session()
        session.cookies.set_policy(NoCookies())
        # Retries are ours (bounded, paced, logged); urllib3 must not retry behind our back.
        adapter = DeadlineAdapter(pool_connections=32, pool_maxsize=4, max_retries=0)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        _local.session = session
    return session


@dataclass
class Answer:
    """What came back: an HTTP answer, or a transport failure (http_status None)."""

    http_status: int | None = None
    body: bytes = b""
    content_type: str = ""
    location: str = ""
    duration_ms: int = 0
    failure: TransportFailure | None = None
    detail: str = ""
    truncated: bool = False
    attempts: int = 1
    refusal: str = ""  # a redirect not followed: why (checks.bitrix24.redirects)
    redirect_to: str = ""  # ...and the portal address it pointed to, when there was one

    @cached_property
    def payload(self) -> Any:
        return None if self.truncated else parse_json(self.body)

    @property
    def error_code(self) -> str | None:
        error = error_fields(self.payload)
        return error[0] if error else None

    @property
    def is_success(self) -> bool:
        return self.http_status is not None and 200 <= self.http_status <= 299 and self.error_code is None


@sensitive_variables("url", "json", "params")
def exchange(
    session: requests.Session,
    method: str,
    url: str,
    *,
    seconds: float,
    json: dict | None = None,
    params: dict | None = None,
    max_body: int = MAX_BODY,
) -> Answer:
    """One request and its answer, all within `seconds`; never follows a redirect.

    Whatever the transport raised, or even a status line with an empty body (what a header
    block cut short looks like to http.client), an exchange whose time ran out is a timeout.
    """
    started = time.monotonic()
    watch = WATCHDOG.watch(seconds)
    try:
        with watching(watch):
            answer = _exchange(session, method, url, json, params, seconds, max_body)
    finally:
        expired = watch.finish()
    answer.duration_ms = _ms(started)
    if expired:
        return Answer(
            failure=TransportFailure.TIMEOUT,
            detail=f"no complete answer from {_host_port(url)} within {seconds:g} s",
            duration_ms=answer.duration_ms,
        )
    return answer


@sensitive_variables("url", "body", "params")
def _exchange(session, method, url, body, params, seconds, max_body) -> Answer:
    try:
        request = requests.Request(method, url, json=body, params=params, headers={"Accept": "application/json"})
        prepared = session.prepare_request(request)
        options = session.merge_environment_settings(prepared.url, {}, True, None, None)
        # The adapter itself, not Session.send: that one works out where a redirect would lead
        # even when it does not follow it, and raises on a broken Location before we see it.
        adapter = session.get_adapter(prepared.url)
        response = adapter.send(prepared, timeout=(min(seconds, 5.0), seconds), **options)
        with response:
            content, truncated = _read_limited(response, max_body)
    except (requests.RequestException, urllib3.exceptions.HTTPError, OSError, ValueError, UnicodeError) as exc:
        failure, detail = describe_exception(exc, url)
        return Answer(failure=failure, detail=detail)
    return Answer(
        http_status=response.status_code,
        body=content,
        content_type=response.headers.get("Content-Type", ""),
        location=response.headers.get("Location", ""),
        truncated=truncated,
    )


def _read_limited(response: requests.Response, max_body: int) -> tuple[bytes, bool]:
    chunks, size = [], 0
    for chunk in response.iter_content(64 * 1024):
        chunks.append(chunk)
        size += len(chunk)
        if size > max_body:
            return b"".join(chunks)[:max_body], True
    return b"".join(chunks), False


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def _host_port(url: str) -> str:
    """host:port of a URL for a message; never its path or query (they may hold a credential)."""
    try:
        parts = urlsplit(url)
        return f"{parts.hostname}:{parts.port or (443 if parts.scheme == 'https' else 80)}"
    except ValueError:
        return "the portal's host"


INVALID_ADDRESS = (
    requests.exceptions.InvalidURL,
    requests.exceptions.MissingSchema,
    requests.exceptions.InvalidSchema,
    urllib3.exceptions.LocationParseError,
    ValueError,
    UnicodeError,
)


def describe_exception(exc: BaseException, url: str) -> tuple[TransportFailure, str]:
    """Which kind of transport failure, and a detail naming the host, never the URL path."""
    host = _host_port(url)
    causes = list(_chain(exc))
    refused = next((c for c in causes if isinstance(c, AddressRefused)), None)
    if refused is not None:
        # AddressRefused's text is ours (the host and the policy), unlike the library's errors.
        return TransportFailure.REFUSED_ADDRESS, refused.problem
    if isinstance(exc, requests.Timeout):
        phase = "connecting" if isinstance(exc, requests.ConnectTimeout) else "waiting for the answer"
        return TransportFailure.TIMEOUT, f"no progress {phase} to {host}"
    if isinstance(exc, requests.exceptions.SSLError) or _any(causes, ssl.SSLError):
        return TransportFailure.TLS, f"{host}: {_ssl_reason(causes)}"
    if _any(causes, socket.gaierror) or _any(causes, urllib3.exceptions.NameResolutionError):
        return TransportFailure.DNS, f"cannot resolve {host.rpartition(':')[0]}"
    if _any(causes, ConnectionRefusedError):
        return TransportFailure.REFUSED, f"{host} refused the connection"
    if _any(causes, ConnectionResetError) or _any(causes, urllib3.exceptions.ProtocolError):
        return TransportFailure.RESET, f"{host} closed the connection without a complete answer"
    if _any(causes, INVALID_ADDRESS):
        # Never str(exc): requests puts the whole URL, webhook code included, in these messages.
        return TransportFailure.INVALID_ADDRESS, f"portal address for host {host.rpartition(':')[0]} cannot be used"
    return TransportFailure.OTHER, f"{host}: {type(exc).__name__}"


def _chain(exc: BaseException):
    seen = set()
    stack = [exc]
    while stack:
        current = stack.pop()
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        stack.extend([current.__cause__, current.__context__, getattr(current, "reason", None)])
        stack.extend(a for a in getattr(current, "args", ()) if isinstance(a, BaseException))


def _any(causes: list[BaseException], kind: type) -> bool:
    return any(isinstance(c, kind) for c in causes)


def _ssl_reason(causes: list[BaseException]) -> str:
    for cause in causes:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return f"certificate verification failed ({cause.verify_message})"
        if isinstance(cause, ssl.SSLError) and cause.reason:
            return str(cause.reason)
    return "handshake failed"
