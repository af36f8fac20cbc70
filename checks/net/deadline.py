"""Wall-clock limits: a run's deadline, and the watchdog that cuts an outside call when its time is up.

requests' timeouts bound each read from the socket, not an exchange: a peer that sends its
headers and then one byte a second keeps the reading thread for as long as it likes, and so
does one that never finishes its header block. So every exchange is watched: the sockets it
uses are registered with a `Watch`, and one watchdog thread per process shuts them down when
the exchange's time is up. The reading thread then wakes with an EOF or an error, and the
exchange reports a timeout, whatever that error (or a seemingly complete answer) says.
"""

import contextlib
import heapq
import itertools
import os
import socket
import threading
import time


class BudgetSpent(Exception):
    """The run's time is up before this call: the bots not verified yet stay due for the next run."""


class Deadline:
    """A point in time that a run (or a test connection) must finish by."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.at = time.monotonic() + seconds

    def remaining(self) -> float:
        return max(0.0, self.at - time.monotonic())


class Watch:
    """One exchange: the sockets and connections it uses, cut at `at` unless it finished first."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.at = time.monotonic() + seconds
        self.expired = False
        self.done = False
        self.refused = ""  # why an address was refused (checks.net.connection), for a caller that cannot see the error
        self._lock = threading.Lock()
        self._sockets: list[tuple[socket.socket, int]] = []
        self._connections: list = []

    def remaining(self) -> float:
        return max(0.0, self.at - time.monotonic())

    def add_socket(self, sock: socket.socket) -> None:
        """A socket this exchange opened (before any TLS handshake on it)."""
        with self._lock:
            self._sockets.append((sock, sock.fileno()))
            if self.expired:
                _shutdown(sock)

    def add_connection(self, conn) -> None:
        """A urllib3 connection this exchange sends on, new or kept alive; its `sock` is read when cut."""
        with self._lock:
            self._connections.append(conn)
            if self.expired and getattr(conn, "sock", None) is not None:
                _shutdown(conn.sock)

    def finish(self) -> bool:
        """The exchange is over: nothing of it is cut from now on. Returns whether it had expired."""
        with self._lock:
            self.done = True
            return self.expired

    def cut(self) -> None:
        # Under the lock that finish() takes: a connection already back in the pool, and so
        # perhaps in use by the next exchange of this thread, is never shut down.
        with self._lock:
            if self.done:
                return
            self.expired = True
            for conn in self._connections:
                if getattr(conn, "sock", None) is not None:
                    _shutdown(conn.sock)
            for sock, fd in self._sockets:
                if sock.fileno() != -1:
                    _shutdown(sock)
                elif fd != -1 and not any(getattr(c, "sock", None) is not None for c in self._connections):
                    # Detached into an SSLSocket that is still shaking hands: reach it by its descriptor.
                    _shutdown_fd(fd)


def _shutdown(sock: socket.socket) -> None:
    # The base class's call acts on the file descriptor alone. SSLSocket.shutdown would also
    # drop its TLS object under the thread that is reading from it.
    with contextlib.suppress(OSError, TypeError, ValueError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


def _shutdown_fd(fd: int) -> None:
    with contextlib.suppress(OSError, ValueError):
        borrowed = socket.socket(fileno=fd)
        try:
            borrowed.shutdown(socket.SHUT_RDWR)
        finally:
            borrowed.detach()  # the descriptor stays open: it belongs to the connection


class Watchdog:
    """One daemon thread per process that cuts each watched exchange when its time is up."""

    def __init__(self):
        self._reset()

    def _reset(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, Watch]] = []
        self._seq = itertools.count()
        self._thread: threading.Thread | None = None

    def watch(self, seconds: float) -> Watch:
        watch = Watch(seconds)
        with self._cond:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="botwatch-deadline", daemon=True)
                self._thread.start()
            heapq.heappush(self._heap, (watch.at, next(self._seq), watch))
            self._cond.notify()
        return watch

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._heap:
                    self._cond.wait()
                at, _, watch = self._heap[0]
                delay = at - time.monotonic()
                if delay > 0 and not watch.done:
                    self._cond.wait(delay)
                    continue
                heapq.heappop(self._heap)
            if not watch.done:
                watch.cut()


WATCHDOG = Watchdog()
# A forked child (gunicorn --preload, prefork) has no watchdog thread and maybe a held lock.
os.register_at_fork(after_in_child=WATCHDOG._reset)
