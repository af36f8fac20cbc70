"""/healthz: JSON for an outside uptime monitor, 200 when checks are running, else 503.

Without a login the body is only `{"status": "ok" | "fail"}`: the status code is what a monitor
needs, and worker and scheduler host names, error classes and ages tell an outsider about the
deployment. A signed-in user (see may_see_details) gets the parts as well. None of it ever
names a portal, bot or secret.
"""

import logging

from django.conf import settings
from django.db import connection
from django.db.models import Max
from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from checks.engine import heartbeats
from checks.models import Portal
from dashboard import twofactor
from dashboard.celery import app

log = logging.getLogger(__name__)

# Beat ticks every 5 s; a minute of silence means beat, the broker or every worker is gone.
TICK_MAX_AGE = 60
BROKER_TIMEOUT = 3  # seconds


def check_database() -> dict:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return {"ok": True}
    except Exception as exc:  # any driver error means the same thing here: not reachable
        log.warning("healthz: database check failed: %s", type(exc).__name__)
        return {"ok": False, "error": type(exc).__name__}


def check_broker() -> dict:
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=BROKER_TIMEOUT)
        return {"ok": True}
    except Exception as exc:  # the class only: a broker URL can carry a password
        log.warning("healthz: broker check failed: %s", type(exc).__name__)
        return {"ok": False, "error": type(exc).__name__}


def verification_max_age() -> int:
    """Two of the longest interval among active portals, plus a tick's slack."""
    longest = Portal.objects.filter(paused=False).aggregate(i=Max("interval"))["i"] or 0
    return 2 * max(longest, settings.BOTWATCH_CHECK_INTERVAL) + TICK_MAX_AGE


def age(then, now) -> float | None:
    return round((now - then).total_seconds(), 1) if then else None


def ages_by_host(ages: dict[str, float], prefix: str) -> dict[str, float]:
    """{hostname: age} of the heartbeats named "<prefix><hostname>"."""
    return {name.removeprefix(prefix): round(a, 1) for name, a in ages.items() if name.startswith(prefix)}


def may_see_details(request) -> bool:
    """Who gets the parts, host names and errors: a signed-in user of any role (two-factor code given).

    The hook for read API tokens: once they exist, accept `Authorization: Bearer`
    with a read token here as well.
    """
    return twofactor.signed_in(request)


@never_cache
@require_GET
def healthz(request):
    now = timezone.now()
    body = {"database": check_database(), "broker": check_broker()}
    problems = [name for name in ("database", "broker") if not body[name]["ok"]]
    if body["database"]["ok"]:
        ages = heartbeats.heartbeat_ages(now)
        tick = ages.get(heartbeats.BEAT)
        body["last_tick_age"] = None if tick is None else round(tick, 1)
        body["workers"] = ages_by_host(ages, "worker:")
        body["schedulers"] = ages_by_host(ages, "scheduler:")
        body["last_verification_age"] = age(heartbeats.last_verification_at(), now)
        if tick is None or tick > TICK_MAX_AGE:
            problems.append("scheduler")
        if heartbeats.has_work():
            last = body["last_verification_age"]
            if last is None or last > verification_max_age():
                problems.append("verifications")
    body["status"] = "fail" if problems else "ok"
    body["problems"] = problems
    if not may_see_details(request):
        body = {"status": body["status"]}
    return JsonResponse(body, status=503 if problems else 200)
