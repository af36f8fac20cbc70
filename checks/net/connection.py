"""The sockets under every outside call, opened within the exchange's deadline and the address rule.

Hooked into urllib3 through the requests adapter (pool and connection classes): name resolution
runs in a small resolver pool so that a slow DNS server costs the exchange no more than its
remaining time (a lookup that libc cannot abandon holds a resolver thread, never a worker's),
each address is judged by the address rule (checks.net.addresses) and connected with what is
left of the deadline, and every socket and connection is registered with the exchange's watch
(checks.net.deadline), which shuts it down when the time is up. No proxy: the environment's
HTTP_PROXY and HTTPS_PROXY are not used, the rule is judged on the address actually connected.

Libraries that call requests themselves (Apprise's plugins) are sent through the same adapter
by `guarded`: inside it, every requests Session of this thread uses the thread's adapter.
"""

import contextlib
import ipaddress
import os
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError, ProtocolError
from urllib3.util.connection import allowed_gai_family

from checks.net import addresses
from checks.net.deadline import WATCHDOG, Watch

RESOLVER_THREADS = 8
_local = threading.local()
_resolver: ThreadPoolExecutor | None = None
_resolver_lock = threading.Lock()


def current_watch() -> Watch | None:
    return getattr(_local, "watch", None)


@contextlib.contextmanager
def watching(watch: Watch):
    """Sockets opened and connections used by this thread meanwhile belong to `watch`."""
    _local.watch = watch
    try:
        yield watch
    finally:
        _local.watch = None


def _resolver_pool() -> ThreadPoolExecutor:
    global _resolver
    with _resolver_lock:
        if _resolver is None:
            _resolver = ThreadPoolExecutor(max_workers=RESOLVER_THREADS, thread_name_prefix="botwatch-dns")
        return _resolver


def _forget_resolver() -> None:
    # A forked child has none of the parent's resolver threads: submitting would wait for ever.
    global _resolver, _resolver_lock
    _resolver, _resolver_lock = None, threading.Lock()


os.register_at_fork(after_in_child=_forget_resolver)


def _getaddrinfo(host: str, port: int) -> list:
    return socket.getaddrinfo(host, port, allowed_gai_family(), socket.SOCK_STREAM)


def resolve(host: str, port: int, seconds: float | None) -> list:
    """getaddrinfo within `seconds` (an address literal needs no lookup); socket.timeout past them."""
    with contextlib.suppress(ValueError):
        ipaddress.ip_address(host)
        return _getaddrinfo(host, port)
    future = _resolver_pool().submit(_getaddrinfo, host, port)
    try:
        return future.result(timeout=seconds)
    except FutureTimeout:
        raise TimeoutError(f"resolving {host} took longer than {seconds:g} s") from None


class AddressRefused(NewConnectionError):
    """Every address the name resolved to is one BotWatch does not connect to (addresses.address_problem)."""

    def __init__(self, conn, problem: str):
        super().__init__(conn, problem)
        self.problem = problem


class DeadlineConnectionMixin:
    """urllib3's connection, opened within the watch's time and registered with it.

    The address rule is applied here, to the addresses actually connected to, so a name
    that resolves to a private address the second time (DNS rebinding) gets nowhere.
    """

    def _new_conn(self) -> socket.socket:
        watch = current_watch()
        limit = watch.remaining() if watch is not None else None
        host = self._dns_host.strip("[]")
        try:
            found = resolve(host, self.port, limit)
        except socket.gaierror as exc:
            raise NameResolutionError(self.host, self, exc) from exc
        except TimeoutError as exc:
            raise ConnectTimeoutError(self, f"resolving {self.host} timed out") from exc
        error: OSError | None = None
        refused = ""
        for family, kind, proto, _, address in found:
            problem = addresses.address_problem(address[0], host=self.host)
            if problem:
                refused = problem
                continue
            sock = socket.socket(family, kind, proto)
            if watch is not None:
                watch.add_socket(sock)
            try:
                for option in self.socket_options or ():
                    sock.setsockopt(*option)
                sock.settimeout(_connect_timeout(self.timeout, watch))
                if self.source_address:
                    sock.bind(self.source_address)
                sock.connect(address)
                return sock
            except OSError as exc:
                error = exc
                sock.close()
        if error is None and refused:
            if watch is not None:
                watch.refused = refused
            raise AddressRefused(self, refused)
        if isinstance(error, TimeoutError):
            raise ConnectTimeoutError(self, f"connecting to {self.host} timed out") from error
        raise NewConnectionError(self, f"Failed to establish a new connection: {error}") from error

    def request(self, *args, **kwargs):
        watch = current_watch()
        if watch is not None:
            watch.add_connection(self)
        return super().request(*args, **kwargs)


def _connect_timeout(timeout, watch: Watch | None) -> float | None:
    limits = [t for t in (timeout if isinstance(timeout, int | float) else None, watch and watch.remaining()) if t]
    return max(0.001, min(limits)) if limits else None


class DeadlineHTTPConnection(DeadlineConnectionMixin, HTTPConnection):
    pass


class DeadlineHTTPSConnection(DeadlineConnectionMixin, HTTPSConnection):
    pass


class DeadlineHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = DeadlineHTTPConnection


class DeadlineHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = DeadlineHTTPSConnection


POOL_CLASSES = {"http": DeadlineHTTPConnectionPool, "https": DeadlineHTTPSConnectionPool}


class ProxyRefused(requests.exceptions.ProxyError):
    """A proxy was asked for: BotWatch connects directly, so the address rule sees the real peer."""


class DeadlineAdapter(HTTPAdapter):
    """requests' adapter with the pools above; it connects directly, never through a proxy."""

    def init_poolmanager(self, *args, **kwargs) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(POOL_CLASSES)

    def send(self, request, stream=False, timeout=None, verify=True, cert=None, proxies=None):
        # A Session that trusts the environment hands its HTTP(S)_PROXY here: not used.
        return super().send(request, stream=stream, timeout=timeout, verify=verify, cert=cert, proxies=None)

    def proxy_manager_for(self, proxy, **proxy_kwargs):
        raise ProxyRefused("BotWatch connects directly, never through a proxy")

    def build_response(self, req, resp):
        response = super().build_response(req, resp)
        cap = getattr(_local, "guard_cap", None)
        if cap is not None:
            response.raw = CappedBody(response.raw, cap)
        return response


class BodyTooLarge(ProtocolError):
    """An answer longer than the cap; requests reports it as a broken answer (ChunkedEncodingError)."""


class CappedBody:
    """A response body that a library reads itself (Apprise), stopped past `cap` bytes."""

    def __init__(self, raw, cap: int):
        self._raw = raw
        self._cap = cap

    def stream(self, amt: int = 2**16, decode_content: bool | None = None):
        size = 0
        for chunk in self._raw.stream(amt, decode_content=decode_content):
            size += len(chunk)
            if size > self._cap:
                raise BodyTooLarge(f"an answer over {self._cap // 1024} KB, not read to the end")
            yield chunk

    def __getattr__(self, name: str):
        return getattr(self._raw, name)


def new_adapter() -> DeadlineAdapter:
    # Retries are the caller's (bounded, paced, logged); urllib3 must not retry behind its back.
    return DeadlineAdapter(pool_connections=32, pool_maxsize=4, max_retries=0)


def thread_adapter() -> DeadlineAdapter:
    """This thread's adapter: its pools keep connections alive between calls."""
    adapter = getattr(_local, "adapter", None)
    if adapter is None:
        adapter = _local.adapter = new_adapter()
    return adapter


@contextlib.contextmanager
def guarded(seconds: float, max_body: int):
    """A library's own requests calls in this thread, under the rules of every outside call.

    Apprise's plugins call `requests.post` themselves and offer no way to hand them a session
    or an adapter, so while this block runs every requests Session in this thread sends through
    `thread_adapter()`: the address rule on the connected socket, no proxy, answers read up to
    `max_body`, and the whole block cut by the watchdog after `seconds`. Other threads are
    untouched. Yields the watch, whose `expired` and `refused` say afterwards whether the time
    ran out or an address was refused.
    """
    watch = WATCHDOG.watch(seconds)
    _local.guarded, _local.guard_cap = True, max_body
    try:
        with watching(watch):
            yield watch
    finally:
        _local.guarded, _local.guard_cap = False, None
        watch.finish()


_session_adapter = requests.Session.get_adapter


def _get_adapter(session: requests.Session, url: str):
    if getattr(_local, "guarded", False) and url.lower().startswith(("http://", "https://")):
        return thread_adapter()
    return _session_adapter(session, url)


requests.Session.get_adapter = _get_adapter
