"""One GET with a wall-clock deadline and a cap on the body: how BotWatch asks a token broker.

requests' timeouts bound each read from the socket, not the exchange: a server that sends one
byte a second, or never ends its headers, keeps the caller as long as it likes. Here the whole
exchange (name lookup, connect, TLS, request, headers, body) must end by the deadline: a timer
shuts the socket down when the time is up, and the reading thread wakes with an error or an
EOF that is then reported as a timeout. Name lookups run in a thread of their own, so a slow
DNS server costs no more than the time left. The broker is called directly (no HTTP proxy).
"""

import contextlib
import http.client
import ipaddress
import os
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from requests.utils import DEFAULT_CA_BUNDLE_PATH

from checks.bitrix24.outcome import TransportFailure


@dataclass
class GetAnswer:
    """An HTTP answer (http_status set), or why there was none (failure set)."""

    http_status: int | None = None
    body: bytes = b""
    location: str = ""
    truncated: bool = False
    duration_ms: int = 0
    failure: TransportFailure | None = None
    detail: str = ""


class _Cutter:
    """Shuts down the exchange's socket when its time is up, unless it finished first."""

    def __init__(self, seconds: float):
        self.at = time.monotonic() + seconds
        self.expired = False
        self._done = False
        self._fds: list[int] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._cut)
        self._timer.daemon = True
        self._timer.start()

    def remaining(self) -> float:
        left = self.at - time.monotonic()
        if left <= 0:
            raise TimeoutError("deadline reached")
        return left

    def add(self, sock: socket.socket) -> None:
        # By descriptor: TLS wrapping detaches the plain socket object, the descriptor stays.
        with self._lock:
            self._fds.append(sock.fileno())
            if self.expired:
                _shutdown(sock.fileno())

    def finish(self) -> None:
        self._timer.cancel()
        with self._lock:
            self._done = True

    def _cut(self) -> None:
        with self._lock:
            if self._done:
                return  # the sockets may be closed and their numbers reused already
            self.expired = True
            for fd in self._fds:
                _shutdown(fd)


def _shutdown(fd: int) -> None:
    with contextlib.suppress(OSError, ValueError):
        borrowed = socket.socket(fileno=fd)
        try:
            borrowed.shutdown(socket.SHUT_RDWR)
        finally:
            borrowed.detach()  # the descriptor belongs to the exchange, which closes it


def get_within(url: str, headers: dict[str, str], seconds: float, max_body: int) -> GetAnswer:
    """GET `url`, never following redirects, finished or abandoned within `seconds`."""
    started = time.monotonic()
    cutter = _Cutter(seconds)
    sock = None
    try:
        parts = urlsplit(url)
        https = parts.scheme == "https"
        port = parts.port or (443 if https else 80)
        sock = _connect(parts.hostname or "", port, cutter)
        if https:
            sock = tls_context().wrap_socket(sock, server_hostname=parts.hostname)
        answer = _exchange(sock, parts, port, headers, max_body)
    except (OSError, http.client.HTTPException, ValueError) as exc:
        failure, detail = _describe(exc, urlsplit(url), cutter.expired)
        answer = GetAnswer(failure=failure, detail=detail)
    finally:
        cutter.finish()
        if sock is not None:
            sock.close()
    if cutter.expired:
        answer = GetAnswer(failure=TransportFailure.TIMEOUT, detail=f"no complete answer within {seconds:g} s")
    answer.duration_ms = int((time.monotonic() - started) * 1000)
    return answer


def tls_context() -> ssl.SSLContext:
    # The CA bundle requests uses for the portals, or the one its variable names.
    return ssl.create_default_context(cafile=os.environ.get("REQUESTS_CA_BUNDLE") or DEFAULT_CA_BUNDLE_PATH)


def _connect(host: str, port: int, cutter: _Cutter) -> socket.socket:
    error: OSError = OSError(f"no address for {host}")
    for family, kind, proto, _, address in _resolve(host, port, cutter.remaining()):
        sock = socket.socket(family, kind, proto)
        cutter.add(sock)
        try:
            sock.settimeout(cutter.remaining())
            sock.connect(address)
            return sock
        except OSError as exc:
            sock.close()
            error = exc
    raise error


def _resolve(host: str, port: int, seconds: float) -> list:
    with contextlib.suppress(ValueError):
        ipaddress.ip_address(host)  # a literal address needs no lookup
        return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    found: dict = {}

    def lookup() -> None:
        try:
            found["addresses"] = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            found["error"] = exc

    thread = threading.Thread(target=lookup, name="botwatch-broker-dns", daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        raise TimeoutError(f"resolving {host} took longer than {seconds:.1f} s")
    if "error" in found:
        raise found["error"]
    return found["addresses"]


def _exchange(sock: socket.socket, parts, port: int, headers: dict[str, str], max_body: int) -> GetAnswer:
    kind = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    conn = kind(parts.hostname, port)
    conn.sock = sock  # connected (and TLS-wrapped) within the deadline above
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    conn.request("GET", path, headers=headers)
    response = conn.getresponse()
    body = response.read(max_body + 1)
    return GetAnswer(
        http_status=response.status,
        body=body[:max_body],
        location=response.getheader("Location", ""),
        truncated=len(body) > max_body,
    )


def _describe(exc: BaseException, parts, expired: bool) -> tuple[TransportFailure, str]:
    """Which kind of failure, with a detail naming the host, never the path or a header."""
    host = f"{parts.hostname}:{parts.port or (443 if parts.scheme == 'https' else 80)}"
    if expired or isinstance(exc, TimeoutError):
        return TransportFailure.TIMEOUT, f"no complete answer from {host} in time"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return TransportFailure.TLS, f"{host}: certificate verification failed ({exc.verify_message})"
    if isinstance(exc, ssl.SSLError):
        return TransportFailure.TLS, f"{host}: {exc.reason or 'handshake failed'}"
    if isinstance(exc, socket.gaierror):
        return TransportFailure.DNS, f"cannot resolve {parts.hostname}"
    if isinstance(exc, ConnectionRefusedError):
        return TransportFailure.REFUSED, f"{host} refused the connection"
    if isinstance(exc, (ConnectionResetError, http.client.HTTPException)):
        return TransportFailure.RESET, f"{host} closed the connection without a complete answer"
    return TransportFailure.OTHER, f"{host}: {type(exc).__name__}"
