"""Control actions on a whole portal: its plan, its acting user, its app's paid period and installation.

A mixin of Simulator (simulator.server); each action is also a control API action (simulator.control).
What they change is what BotWatch's portal probe reads: `profile`, `app.info` (simulator.methods).
Facts: reference/bitrix24-health-signals.md §2, §3.
"""

import threading
from collections.abc import Callable

from simulator.errors import SimulatorError
from simulator.state import AppState, PortalState

APP_STATUSES = ("F", "D", "T", "P", "L", "S")  # app-info.md: free, demo, trial, paid, local, subscription
DAY_S = 86400.0


class PortalActions:
    """Needs from Simulator: _lock, clock, _portal(name)."""

    _lock: threading.RLock
    clock: Callable[[], float]
    _portal: Callable[[str], PortalState]

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
