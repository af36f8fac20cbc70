"""A run's word on the portal itself (SPEC §8): the probe's outcome as the portal row's new state.

Written in the run's own transaction, beside the verifications: statement by statement on SQLite
(`portal_changes`), folded into the one recording statement on PostgreSQL (checks.engine.pg reads
the same document). Both keep status_since and the failure count under the portal row's lock.
"""

from datetime import datetime

from django.db.models import F

from checks.bitrix24.probe import PortalResult
from checks.models import Portal
from checks.status import Status, needs_alerting

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


def portal_changes(portal_id: int, document: dict) -> tuple[dict, bool]:
    """The Portal columns to write for `document`, read under the row's lock, and whether alerting
    must look at the portal (its status needs it, or app.info was read: the paid period)."""
    if document["status"] is None:
        return {}, False
    current = Portal.objects.select_for_update().filter(pk=portal_id).values("status", "status_since").first()
    if current is None:
        return {}, False
    status, now = document["status"], document["checked_at"]
    changes = {
        "status": status,
        "status_since": current["status_since"] if current["status"] == status and current["status_since"] else now,
        "consecutive_failures": 0 if status == Status.OK else F("consecutive_failures") + 1,
        "last_checked_at": now,
        "last_error": document["last_error"],
        "last_error_description": document["last_error_description"],
        "last_http_status": document["last_http_status"],
        "problems": document["problems"],
    }
    if document["app"]:
        changes.update(
            app_info_checked_at=now,
            app_status=document["app_status"],
            app_installed=document["app_installed"],
            app_payment_expired=document["app_payment_expired"],
            app_paid_until=document["app_paid_until"],
        )
        if document["plan"]:
            changes["plan"] = document["plan"]
    return changes, needs_portal_alerting(status, current["status"], document)


def needs_portal_alerting(status: str, before: str, document: dict) -> bool:
    """As for a bot (checks.status.needs_alerting), and after every app.info: its paid period may be ending."""
    return needs_alerting(status, before) or bool(document.get("app"))
