"""Token brokers over real HTTP: the simulator's (an app's backend) and a test server that misbehaves."""

import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator

from checks.models import AuthType, Portal

BROKER_SECRET = "broker-secret-7f3a9c"


def broker_portal(sim, name="brokered", *, client_id="local.brk", save=True, **sim_kwargs) -> Portal:
    """An OAuth portal whose app serves a broker in the simulator; BotWatch holds no token at all."""
    sim.add_portal(name, webhook_code=None, rate=100, burst=100, **sim_kwargs)
    sim.add_oauth_app(name, client_id, "the-apps-own-client-secret")
    broker_url = sim.add_broker(name, client_id, BROKER_SECRET)["broker_url"]
    portal = Portal(
        name=name,
        url=sim.portal_url(name),
        auth_type=AuthType.OAUTH,
        oauth_client_id=client_id,
        oauth_broker_url=broker_url,
        oauth_broker_secret=BROKER_SECRET,
        pace_rate=100,
        pace_burst=100,
    )
    if save:
        portal.save()
    return portal


class RawBroker:
    """A socket server answering every request with `script(conn)`: whatever a test needs, byte by byte."""

    def __init__(self, script):
        self.script = script
        self.requests: list[bytes] = []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}/token"
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        self.listener.settimeout(0.1)
        while not self.stopping.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            conn.settimeout(5)
            self.requests.append(conn.recv(65536))
            self.script(conn)

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=5)
        self.listener.close()


@contextlib.contextmanager
def raw_broker(script) -> Iterator[RawBroker]:
    server = RawBroker(script)
    try:
        yield server
    finally:
        server.stop()


def answer(status: int, body: bytes | dict, headers: dict | None = None):
    """A script: one complete HTTP answer."""
    data = json.dumps(body).encode() if isinstance(body, dict) else body
    extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())

    def script(conn: socket.socket) -> None:
        head = f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {len(data)}\r\n{extra}\r\n"
        conn.sendall(head.encode() + data)

    return script


def trickle(head: bytes, body: bytes, every_s: float):
    """A script: `head` at once, then `body` one byte every `every_s` seconds."""

    def script(conn: socket.socket) -> None:
        conn.sendall(head)
        for byte in body:
            conn.sendall(bytes([byte]))
            time.sleep(every_s)

    return script
