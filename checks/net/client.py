"""One exchange with the outside: the request, its answer read up to a cap, all within one deadline.

`request` is how BotWatch calls anything outside (portals, the OAuth server, token brokers, the
Bitrix24 chat channel); Apprise's plugins reach the same adapter through `connection.guarded`.
Its rules: the address rule on the address actually connected (checks.net.addresses), one
wall-clock deadline from name resolution to the last body byte (checks.net.deadline), at most
`max_body` bytes read, no redirect followed (the caller decides), no proxy, no cookies.
Failures come back classified (`TransportFailure`), with a detail that names the host and port,
never the URL's path or query: a webhook code or an OAuth secret may sit there.
"""

import http.cookiejar
import os
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import urlsplit

import requests
import urllib3
from django.views.decorators.debug import sensitive_variables

from checks.net.connection import AddressRefused, ProxyRefused, new_adapter, watching
from checks.net.deadline import WATCHDOG

MAX_BODY = 2 * 1024 * 1024  # the largest answer any caller expects is a few KB; this is not one
_local = threading.local()


class TransportFailure(StrEnum):
    """Why no HTTP answer arrived."""

    DNS = "DNS failure"
    REFUSED = "connection refused"
    TLS = "TLS failure"
    TIMEOUT = "timeout"
    RESET = "connection reset"
    OTHER = "connection failure"
    INVALID_ADDRESS = "invalid address"  # the configuration's fault, not the network's
    REFUSED_ADDRESS = "address refused"  # a private network, BOTWATCH_ALLOW_PRIVATE_PORTALS off


@dataclass
class Reply:
    """What came back: an HTTP answer, or a transport failure (http_status None)."""

    http_status: int | None = None
    body: bytes = b""
    content_type: str = ""
    location: str = ""
    duration_ms: int = 0
    failure: TransportFailure | None = None
    detail: str = ""
    truncated: bool = False


class NoCookies(http.cookiejar.DefaultCookiePolicy):
    """A thread's session serves every destination, so it keeps no cookie for any of them."""

    def set_ok(self, cookie, request) -> bool:
        return False

    def return_ok(self, cookie, request) -> bool:
        return False


def thread_session() -> requests.Session:
    """One Session per thread: its pool keeps connections to each host alive between calls."""
    session = getattr(_local, "session", None)
    if session is None:
        session = requests.Session()
        session.trust_env = False  # no proxy, no .netrc from the environment...
        # ...but the CA bundle an operator names for an on-premise portal's own CA.
        session.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
        session.cookies.set_policy(NoCookies())
        adapter = new_adapter()
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        _local.session = session
    return session


@sensitive_variables("url", "json", "params", "headers", "data")
def request(
    method: str,
    url: str,
    *,
    seconds: float,
    headers: dict[str, str] | None = None,
    json: dict | None = None,
    data: bytes | None = None,
    params: dict | None = None,
    max_body: int = MAX_BODY,
    session: requests.Session | None = None,
) -> Reply:
    """One request and its answer, all within `seconds`; never follows a redirect.

    Whatever the transport raised, or even a status line with an empty body (what a header
    block cut short looks like to http.client), an exchange whose time ran out is a timeout.
    """
    started = time.monotonic()
    watch = WATCHDOG.watch(seconds)
    try:
        with watching(watch):
            reply = _send(session or thread_session(), method, url, headers, json, data, params, seconds, max_body)
    finally:
        expired = watch.finish()
    reply.duration_ms = int((time.monotonic() - started) * 1000)
    if expired:
        detail = f"no complete answer from {host_port(url)} within {seconds:g} s"
        return Reply(failure=TransportFailure.TIMEOUT, detail=detail, duration_ms=reply.duration_ms)
    return reply


@sensitive_variables("url", "body", "params", "headers", "data")
def _send(session, method, url, headers, body, data, params, seconds, max_body) -> Reply:
    try:
        wanted = {"Accept": "application/json", **(headers or {})}
        prepared = session.prepare_request(
            requests.Request(method, url, json=body, data=data, params=params, headers=wanted)
        )
        # The adapter itself, not Session.send: that one works out where a redirect would lead
        # even when it does not follow it, and raises on a broken Location before we see it.
        adapter = session.get_adapter(prepared.url)
        response = adapter.send(prepared, timeout=(min(seconds, 5.0), seconds), verify=session.verify)
        with response:
            content, truncated = _read_limited(response, max_body)
    except (requests.RequestException, urllib3.exceptions.HTTPError, OSError, ValueError, UnicodeError) as exc:
        failure, detail = describe_exception(exc, url)
        return Reply(failure=failure, detail=detail)
    return Reply(
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


def host_port(url: str) -> str:
    """host:port of a URL for a message; never its path or query (they may hold a credential)."""
    try:
        parts = urlsplit(url)
        return f"{parts.hostname}:{parts.port or (443 if parts.scheme == 'https' else 80)}"
    except ValueError:
        return "the host"


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
    host = host_port(url)
    causes = list(_chain(exc))
    refused = next((c for c in causes if isinstance(c, AddressRefused)), None)
    if refused is not None:
        # AddressRefused's text is ours (the host and the rule), unlike the library's errors.
        return TransportFailure.REFUSED_ADDRESS, refused.problem
    if _any(causes, ProxyRefused):
        return TransportFailure.INVALID_ADDRESS, f"{host}: {exc}"
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
        return TransportFailure.INVALID_ADDRESS, f"the address for host {host.rpartition(':')[0]} cannot be used"
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
