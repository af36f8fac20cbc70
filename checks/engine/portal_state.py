"""A run's word on the portal itself: the probe's outcome as the portal row's new state.

Written in the run's own transaction, beside the verifications: the one recording statement
(checks.engine.pg) reads this document and keeps status_since and the failure count under the
portal row's lock.
"""

from datetime import datetime

from checks.bitrix24.probe import PortalResult
from checks.status import needs_alerting

MAX_DESCRIPTION = 2000


def state_document(probe: PortalResult | None, now: datetime) -> dict:
    """The probe's outcome as plain values (status None: no probe in this run, the row stays as it is)."""
    if probe is None:
        return {"status": None}
    app = probe.app_info
    return {
        "status": str(probe.status),
        "checked_at": now,
        "last_error": (probe.error_code or "")[:100],
        "last_error_description": (probe.error_description or "")[:MAX_DESCRIPTION],
        "last_http_status": probe.http_status,
        "problems": [problem.as_json() for problem in probe.problems],
        "app": app is not None,
        "plan": app.license if app else "",
        "app_status": app.status if app else "",
        "app_installed": app.installed if app else None,
        "app_payment_expired": app.payment_expired if app else None,
        "app_paid_until": app.paid_until(now.date()) if app else None,
    }


def needs_portal_alerting(status: str, before: str, document: dict) -> bool:
    """As for a bot (checks.status.needs_alerting), and after every app.info: its paid period may be ending."""
    return needs_alerting(status, before) or bool(document.get("app"))
