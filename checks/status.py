"""The status taxonomy of one verification, with its default alerting rules (docs/statuses.md).

Pure data, importable without a configured Django, so that the classification of Bitrix24's
answers (checks.bitrix24.outcome) and the incident rules can be tested without I/O.
"""

from django.db import models


class Status(models.TextChoices):
    OK = "ok", "OK"
    NOT_FOUND = "not_found", "Bot not found"
    NOT_OWNER = "not_owner", "Not owner (brief format)"
    # Answers in the extended format, but a health check fails (docs/statuses.md).
    DEGRADED = "degraded", "Degraded"
    AUTH_FAILED = "auth_failed", "Authorization failed"
    MISCONFIGURED = "misconfigured", "Misconfigured"
    PORTAL_UNAVAILABLE = "portal_unavailable", "Portal unavailable"
    RATE_LIMITED = "rate_limited", "Rate limited"
    SERVER_ERROR = "server_error", "Server error"
    UNREACHABLE = "unreachable", "Unreachable"
    BAD_RESPONSE = "bad_response", "Bad response"
    ERROR = "error", "Error"


class BotState(models.TextChoices):
    """What the dashboard shows for a bot: a status, or why there is none yet."""

    PENDING = "pending", "Not checked yet"
    OK = Status.OK.value, Status.OK.label
    NOT_FOUND = Status.NOT_FOUND.value, Status.NOT_FOUND.label
    NOT_OWNER = Status.NOT_OWNER.value, Status.NOT_OWNER.label
    DEGRADED = Status.DEGRADED.value, Status.DEGRADED.label
    AUTH_FAILED = Status.AUTH_FAILED.value, Status.AUTH_FAILED.label
    MISCONFIGURED = Status.MISCONFIGURED.value, Status.MISCONFIGURED.label
    PORTAL_UNAVAILABLE = Status.PORTAL_UNAVAILABLE.value, Status.PORTAL_UNAVAILABLE.label
    RATE_LIMITED = Status.RATE_LIMITED.value, Status.RATE_LIMITED.label
    SERVER_ERROR = Status.SERVER_ERROR.value, Status.SERVER_ERROR.label
    UNREACHABLE = Status.UNREACHABLE.value, Status.UNREACHABLE.label
    BAD_RESPONSE = Status.BAD_RESPONSE.value, Status.BAD_RESPONSE.label
    ERROR = Status.ERROR.value, Status.ERROR.label


# Consecutive bad verifications before an incident opens, unless a portal overrides them (docs/statuses.md).
DEFAULT_THRESHOLDS: dict[str, int] = {
    Status.NOT_FOUND: 1,
    Status.NOT_OWNER: 2,
    Status.DEGRADED: 2,
    Status.AUTH_FAILED: 2,
    Status.MISCONFIGURED: 2,
    Status.PORTAL_UNAVAILABLE: 2,
    Status.RATE_LIMITED: 3,
    Status.SERVER_ERROR: 3,
    Status.UNREACHABLE: 3,
    Status.BAD_RESPONSE: 3,
    Status.ERROR: 2,
}

# Higher is worse: an open incident whose status moves up this scale alerts again.
SEVERITY: dict[str, int] = {
    Status.OK: 0,
    Status.RATE_LIMITED: 1,
    Status.SERVER_ERROR: 1,
    Status.UNREACHABLE: 1,
    Status.BAD_RESPONSE: 1,
    Status.ERROR: 2,
    Status.DEGRADED: 2,
    Status.PORTAL_UNAVAILABLE: 2,
    Status.MISCONFIGURED: 3,
    Status.NOT_OWNER: 3,
    Status.AUTH_FAILED: 3,
    Status.NOT_FOUND: 4,
}


# A portal failing with one of these (its probe, or every bot of a run alike) fails its bots too: they are
# recorded with the portal's status, and one portal incident stands for them all.
PORTAL_FAILURES = frozenset(
    {Status.UNREACHABLE, Status.SERVER_ERROR, Status.PORTAL_UNAVAILABLE, Status.AUTH_FAILED, Status.RATE_LIMITED}
)
# A portal's own problem (app.info INSTALLED false) makes it degraded, with an incident of its own;
# its bots are still verified and keep their statuses.
PORTAL_INCIDENT_STATUSES = PORTAL_FAILURES | {Status.DEGRADED}
# A fleet wave: one bot code with these on many portals at once (a release or an uninstall gone wrong).
WAVE_STATUSES = frozenset({Status.NOT_FOUND, Status.NOT_OWNER})


def needs_alerting(status: str, before: str) -> bool:
    """Whether a verification of this status, on a bot in state `before`, goes to alerting.

    An ok after ok (or a first ok) can neither open nor resolve an incident: the steady state
    costs alerting nothing. Failures go every time, since thresholds count them.
    """
    return not (status == Status.OK and before in (Status.OK, BotState.PENDING))


class ResponseFormat(models.TextChoices):
    NONE = "", "—"
    EXTENDED = "extended", "Extended (owner)"
    BRIEF = "brief", "Brief (not owner)"


def problem_keys(problems: list | None) -> frozenset[str]:
    """The keys of problems in their stored form (Problem.as_json): what tells them apart."""
    return frozenset(str(p.get("key") or p.get("check")) for p in problems or [])
