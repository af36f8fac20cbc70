"""The sockets under every Bitrix24 exchange, opened within the exchange's deadline.

Hooked into urllib3 through the requests adapter (pool and connection classes), not by
monkeypatching: name resolution runs in a small resolver pool so that a slow DNS server costs
the exchange no more than its remaining time (a lookup that libc cannot abandon holds a
resolver thread, never a worker's), each address is connected with what is left of the
deadline, and every socket and connection is registered with the exchange's watch
(checks.bitrix24.deadline), which shuts it down when the time is up.
"""

import contextlib
import ipaddress
import os
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.util.connection import allowed_gai_family

from checks.bitrix24 import netpolicy
from checks.bitrix24.deadline import Watch

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
    """Every address the name resolved to is one BotWatch does not connect to (netpolicy.address_problem)."""

    def __init__(self, conn, problem: str):
        super().__init__(conn, problem)
        self.problem = problem


class DeadlineConnectionMixin:
    """urllib3's connection, opened within the watch's time and registered with it.

    The address policy is applied here, to the addresses actually connected to, so a name
    that resolves to a private address the second time (DNS rebinding) gets nowhere. Through
    a proxy the proxy's own address is not judged: the operator chose it.
    """

    def _new_conn(self) -> socket.socket:
        watch = current_watch()
        limit = watch.remaining() if watch is not None else None
        host = self._dns_host.strip("[]")
        try:
            addresses = resolve(host, self.port, limit)
        except socket.gaierror as exc:
            raise NameResolutionError(self.host, self, exc) from exc
        except TimeoutError as exc:
            raise ConnectTimeoutError(self, f"resolving {self.host} timed out") from exc
        error: OSError | None = None
        refused = ""
        for family, kind, proto, _, address in addresses:
            problem = None if self.proxy else netpolicy.address_problem(address[0], host=self.host)
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


class DeadlineAdapter(HTTPAdapter):
    """requests' adapter with the pools above, directly and through an http(s) proxy."""

    def init_poolmanager(self, *args, **kwargs) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(POOL_CLASSES)

    def proxy_manager_for(self, proxy, **proxy_kwargs):
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if not proxy.lower().startswith("socks"):
            manager.pool_classes_by_scheme = dict(POOL_CLASSES)
        return manager
