"""A token broker, as an app's own backend would serve one, for BotWatch's tests and demo.

The app owns its portal's OAuth chain: it refreshes when its access token has expired (or is
about to) and hands the current access token to whoever shows the broker secret, at
`GET {base}/_broker/{portal}/{client_id}` with `Authorization: Bearer SECRET`, answering
`{"access_token": ..., "expires_at": ISO 8601}`. BotWatch, asking there, never refreshes, so the
single-use refresh tokens are only ever used by the app. Faults with `method: broker`
(inject_fault) make it fail: e.g. `html_500`, `timeout`, `invalid_grant`.
"""

import hmac
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from simulator.errors import Reply, SimulatorError, fault_reply, json_reply
from simulator.http import Request
from simulator.pipeline import BROKER_FAULT_METHOD
from simulator.state import PortalState, TokenPair

REFRESH_MARGIN_S = 60  # the app refreshes a token this close to its expiry before handing it out


class TokenBrokers:
    """Needs from Simulator: _lock, clock, base_url, _portals, _tokens, _refresh, _portal, _installed, _issue_tokens."""

    _lock: threading.RLock
    clock: Callable[[], float]
    base_url: str
    _portals: dict[str, PortalState]
    _tokens: dict[str, TokenPair]
    _refresh: dict[str, TokenPair]
    _brokers: dict[tuple[str, str], str]

    def add_broker(self, portal: str, client_id: str, secret: str) -> dict:
        """The app `client_id` on `portal` serves its access token to holders of `secret`."""
        if not secret:
            raise SimulatorError("a broker needs a secret")
        with self._lock:
            state = self._portal(portal)
            if not self._installed(state, client_id):
                raise SimulatorError(f"app {client_id!r} is not installed on portal {portal!r}")
            self._brokers[(portal, client_id)] = secret
            return {"broker_url": f"{self.base_url}/_broker/{portal}/{client_id}"}

    def broker_reply(self, request: Request) -> Reply:
        portal, _, client_id = request.path[len("/_broker/") :].strip("/").partition("/")
        with self._lock:
            secret = self._brokers.get((portal, client_id))
            if secret is None:
                return json_reply(404, {"error": "not_found", "error_description": "no broker at this address"})
            # In constant time: how long a wrong secret takes to refuse says nothing of how much matched.
            shown = request.headers.get("authorization", "").encode()
            if not hmac.compare_digest(shown, f"Bearer {secret}".encode()):
                return json_reply(401, {"error": "unauthorized", "error_description": "wrong broker secret"})
            state = self._portals[portal]
            state.stats["broker_calls"] += 1
            fault = self._take_fault(state, BROKER_FAULT_METHOD, set(), whole_request=True)
            replaced = fault_reply(fault, {}) if fault is not None else None
            if replaced is not None:
                return replaced
            reply = self._current_token(state, client_id)
            reply.delay_s = fault.sleep_s if fault is not None and fault.kind == "timeout" else 0.0
            return reply

    def _current_token(self, state: PortalState, client_id: str) -> Reply:
        if not self._installed(state, client_id):
            return json_reply(400, {"error": "invalid_grant", "error_description": "the app is not installed"})
        pair = next((t for t in self._tokens.values() if (t.portal, t.client_id) == (state.name, client_id)), None)
        if pair is None or pair.expired or pair.expires < self.clock() + REFRESH_MARGIN_S:
            # The app's own refresh: the old pair is retired, exactly as the OAuth server does it.
            if pair is not None:
                del self._tokens[pair.access_token], self._refresh[pair.refresh_token]
            pair = self._issue_tokens(state, client_id)
            state.stats["broker_refreshes"] += 1
        expires_at = datetime.fromtimestamp(pair.expires, UTC).isoformat()
        return json_reply(200, {"access_token": pair.access_token, "expires_at": expires_at})
