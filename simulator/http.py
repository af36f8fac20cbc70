"""The simulator's HTTP side: a threaded HTTP/1.1 server and the parsing of REST parameters.

One thread per connection with keep-alive, so that hundreds of slow (latency) answers can be
in flight at once; the handler sleeps outside the simulator's lock.
"""

import contextlib
import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

from simulator.errors import Reply


@dataclass
class Request:
    verb: str
    path: str  # without the query string
    query_string: str
    headers: dict[str, str]
    body: bytes

    @property
    def query(self) -> dict:
        return parse_php_query(self.query_string)


def parse_php_query(text: str) -> dict:
    """Parses `a=1&cmd[k]=v&list[]=x` into nested dicts the way PHP does (notes §4, batch encoding)."""
    out: dict = {}
    for key, value in parse_qsl(text, keep_blank_values=True):
        parts = _split_php_key(key)
        node = out
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if part == "":
                part = str(len(node))
            if last:
                node[part] = value
            else:
                child = node.get(part)
                if not isinstance(child, dict):
                    child = node[part] = {}
                node = child
    return out


def _split_php_key(key: str) -> list[str]:
    head, _, rest = key.partition("[")
    if not rest:
        return [key]
    parts = [head]
    for piece in ("[" + rest).split("["):
        if piece:
            parts.append(piece.rstrip("]"))
    return parts


def parse_body(request: Request) -> dict:
    """JSON or form-encoded body merged over the query parameters (the body wins)."""
    params = request.query
    if not request.body:
        return params
    ctype = request.headers.get("content-type", "").lower()
    if "application/x-www-form-urlencoded" in ctype:
        params.update(parse_php_query(request.body.decode("utf-8", "replace")))
        return params
    try:
        body = json.loads(request.body)
    except (ValueError, UnicodeDecodeError):
        body = parse_php_query(request.body.decode("utf-8", "replace"))
    if isinstance(body, dict):
        params.update(body)
    return params


class SimulatorServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024  # the benchmark opens a few hundred connections at once

    def __init__(self, address: tuple[str, int], dispatch: Callable[[Request], Reply]):
        self.dispatch = dispatch
        self.stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def track(self, conn: socket.socket, add: bool) -> None:
        with self._connections_lock:
            if add:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    def close_connections(self) -> None:
        """Cuts idle keep-alive connections so that a stopped simulator really stops answering."""
        with self._connections_lock:
            conns = list(self._connections)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


def serve_in_thread(address: tuple[str, int], dispatch: Callable[[Request], Reply]) -> SimulatorServer:
    """A server answering `dispatch` from a daemon thread; bound when this returns."""
    server = SimulatorServer(address, dispatch)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return server


def shut(server: SimulatorServer) -> None:
    """Stops answering and closes the listening socket: new connections are refused from then on."""
    server.stopping.set()
    server.shutdown()
    server.close_connections()
    server.server_close()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "nginx"
    sys_version = ""
    timeout = 120  # idle keep-alive connections are closed after this many seconds
    server: SimulatorServer

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, add=False)

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def log_message(self, format: str, *args) -> None:
        """Silent: request lines carry webhook codes and access tokens."""

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        parts = urlsplit(self.path)
        headers = {k.lower(): v for k, v in self.headers.items()}
        reply = self.server.dispatch(Request(self.command, parts.path, parts.query, headers, body))
        try:
            self._send(reply)
        finally:
            if reply.on_sent is not None:
                reply.on_sent()

    def _send(self, reply: Reply) -> None:
        if reply.delay_s > 0 and self.server.stopping.wait(reply.delay_s):
            reply = Reply(status=0, reset=True)
        if reply.reset:
            self._cut()
            return
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        if reply.trickle == "headers":
            # The status line, then a header that never ends: a client waits for the blank line.
            self.flush_headers()
            self._trickle(reply, b"X-Pad: " + b"a" * 1_000_000)
            return
        self.send_header("Content-Length", str(len(reply.body)))
        for name, value in (reply.headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if reply.trickle == "body":
            self._trickle(reply, reply.body)
            return
        self.wfile.write(reply.body)

    def _trickle(self, reply: Reply, data: bytes) -> None:
        """One byte per trickle_every_s for at most trickle_for_s (or until stop()), then the connection closes."""
        until = time.monotonic() + reply.trickle_for_s
        with contextlib.suppress(OSError):
            for index in range(len(data)):
                if time.monotonic() >= until or self.server.stopping.wait(reply.trickle_every_s):
                    break
                self.wfile.write(data[index : index + 1])
        self._cut()

    def _cut(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)
