"""Control actions on whole portals: an outage, a bot code gone from many portals at once (a fleet wave),
a portal's plan, its acting user, its app's paid period and installation.

A mixin of Simulator (simulator.server); each action is also a control API action (simulator.control).
What they change is what BotWatch's portal probe reads (`server.time`, `profile`, `app.info`: simulator.methods)
and what every other request of the portal meets. Facts: https://apidocs.bitrix24.com/api-reference/common/system/app-info.html.
"""

import threading
from collections.abc import Callable

from simulator.errors import Reply, SimulatorError, html_reply
from simulator.http import Request, serve_in_thread, shut
from simulator.state import AppState, PortalState

# "502": nginx answers every request with its Bad Gateway page; "timeout": every request is held (sleep_s)
# and then gets a 504 page, long after any client gave up; "refused": connections are refused (a portal
# with a port of its own closes it; on the shared port the connection is closed before any answer).
OUTAGES = ("502", "timeout", "refused")

APP_STATUSES = ("F", "D", "T", "P", "L", "S")  # app-info.md: free, demo, trial, paid, local, subscription
DAY_S = 86400.0


class PortalActions:
    """Needs from Simulator: _lock, clock, _host, _portals, _portal(name), _dispatch(request)."""

    _lock: threading.RLock
    clock: Callable[[], float]
    _host: str
    _portals: dict[str, PortalState]
    _portal: Callable[[str], PortalState]
    _dispatch: Callable[[Request], Reply]

    def set_outage(self, portal: str, kind: str | int | None, sleep_s: float | None = None) -> dict:
        """Takes the whole portal down (every REST request: 502, a timeout, or refused) until `kind` is None.

        The OAuth server is another host and stays up. Returns the portal's outage and own port.
        """
        kind = None if kind is None else str(kind)
        if kind is not None and kind not in OUTAGES:
            raise SimulatorError(f"outage must be one of {', '.join(OUTAGES)}, or null to end it")
        if sleep_s is not None and (isinstance(sleep_s, bool) or not isinstance(sleep_s, int | float) or sleep_s < 0):
            raise SimulatorError("sleep_s must be a non-negative number of seconds")
        with self._lock:
            state = self._portal(portal)
            state.outage = kind
            if sleep_s is not None:
                state.outage_sleep_s = float(sleep_s)
            if state.own_port and kind == "refused":
                self._close_own_listener(state)
            elif state.own_port and state.listener is None:
                self._open_own_listener(state)
            return {"outage": state.outage, "own_port": state.own_port}

    def _open_own_listener(self, state: PortalState) -> None:
        """The portal's own port (the same one again after a refused outage: clients keep its address)."""
        server = serve_in_thread((self._host, state.own_port or 0), self._dispatch)
        state.own_port = server.server_port
        state.listener = server

    def _close_own_listener(self, state: PortalState) -> None:
        if state.listener is not None:
            shut(state.listener)
            state.listener = None

    def remove_bot_code(self, code: str, portals: list | None = None) -> list[str]:
        """A release gone wrong: the bot with this code is unregistered on many portals at once (all when
        `portals` is None). Returns the portals it was removed from, by name."""
        if not isinstance(code, str) or not code:
            raise SimulatorError("code must be a bot code")
        if portals is not None and (not isinstance(portals, list) or not all(isinstance(p, str) for p in portals)):
            raise SimulatorError("portals must be a list of portal names")
        with self._lock:
            states = [self._portal(name) for name in portals] if portals is not None else list(self._portals.values())
            removed = []
            for state in states:
                bot = state.bot_by_code(code)
                if bot is not None:
                    del state.bots[bot.id]
                    removed.append(state.name)
            return removed

    def set_webhook_user_active(self, portal: str, active: bool) -> None:
        """Switches the portal's acting user (the webhook's, and the one OAuth tokens act for) off or on.

        Switched off, `profile` answers an empty object (profile.md); other methods answer as before.
        """
        if not isinstance(active, bool):
            raise SimulatorError("active must be true or false")
        with self._lock:
            self._portal(portal).user_active = active

    def set_license(self, portal: str, license: str) -> None:
        """The portal's plan as app.info names it (LICENSE, e.g. de_ent250 or en_basic)."""
        if not isinstance(license, str) or not license.strip():
            raise SimulatorError("license must be a non-empty string such as en_ent250")
        with self._lock:
            self._portal(portal).license = license.strip()

    def set_app_info(
        self,
        portal: str,
        client_id: str,
        days: int | None = None,
        installed: bool | None = None,
        status: str | None = None,
    ) -> dict:
        """What app.info says of an app: `days` left in its paid period (negative: ended, PAYMENT_EXPIRED Y),
        INSTALLED (`installed` false: installFinish never called), STATUS. Arguments left out stay as they are.

        Returns the app's app.info fields as of now.
        """
        problems = app_info_problems(days, installed, status)
        if problems:
            raise SimulatorError("; ".join(problems))
        with self._lock:
            state = self._portal(portal)
            app = state.apps.get(client_id)
            if app is None or not app.installed:
                raise SimulatorError(f"app {client_id!r} is not installed on portal {portal!r}")
            if days is not None:
                # Half a day past the whole days, so that DAYS reads `days` for the next twelve hours.
                app.paid_until = self.clock() + (days + 0.5) * DAY_S
                if status is None and app.status in ("L", "F"):
                    app.status = "P"
            if installed is not None:
                app.install_finished = installed
            if status is not None:
                app.status = status
            return _app_summary(app, self.clock())


def outage_reply(state: PortalState) -> Reply:
    """What a request to a portal in an outage gets (the stats count it like any other)."""
    if state.outage == "502":
        return html_reply(502, "Bad Gateway")
    if state.outage == "timeout":
        reply = html_reply(504, "Gateway Time-out")
        reply.delay_s = state.outage_sleep_s
        return reply
    return Reply(status=0, reset=True)


def app_info_problems(days, installed, status) -> list[str]:
    problems = []
    if days is not None and (isinstance(days, bool) or not isinstance(days, int)):
        problems.append("days must be a whole number (negative: the paid period has ended)")
    if installed is not None and not isinstance(installed, bool):
        problems.append("installed must be true or false")
    if status is not None and status not in APP_STATUSES:
        problems.append(f"status must be one of {', '.join(APP_STATUSES)}")
    return problems


def _app_summary(app: AppState, now: float) -> dict:
    days = None if app.paid_until is None else int((app.paid_until - now) // DAY_S)
    return {"client_id": app.client_id, "status": app.status, "installed": app.install_finished, "days": days}
