"""The status taxonomy of one verification, with its default alerting rules (docs/statuses.md).

Pure data, importable without a configured Django, so that the classification of Bitrix24's
answers (checks.bitrix24.outcome) and the incident rules can be tested without I/O.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _


class Status(models.TextChoices):
    OK = "ok", _("OK")
    NOT_FOUND = "not_found", _("Bot not found")
    NOT_OWNER = "not_owner", _("Token rotated or wrong bot token")
    # Answers in the extended format, but a health check fails (docs/statuses.md, "degraded").
    DEGRADED = "degraded", _("Degraded")
    AUTH_FAILED = "auth_failed", _("Authorization failed")
    MISCONFIGURED = "misconfigured", _("Misconfigured")
    PORTAL_UNAVAILABLE = "portal_unavailable", _("Portal unavailable")
    RATE_LIMITED = "rate_limited", _("Rate limited")
    SERVER_ERROR = "server_error", _("Server error")
    UNREACHABLE = "unreachable", _("Unreachable")
    BAD_RESPONSE = "bad_response", _("Bad response")
    ERROR = "error", _("Error")


class BotState(models.TextChoices):
    """What the dashboard shows for a bot: a status, or why there is none yet."""

    PENDING = "pending", _("Not checked yet")
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

# The one severity order, worst first (docs/statuses.md#severity). Statuses in one tuple share a
# level: moving between them inside an open incident is recorded but does not alert again. Pages
# sort "worst first" by RANK, which keeps this order within a level too: a bot that is gone ranks
# above a wrong token, and a rate-limited portal (it answers, it is only busy) comes last.
SEVERITY_ORDER: tuple[tuple[str, ...], ...] = (
    (Status.NOT_FOUND,),
    (Status.NOT_OWNER, Status.AUTH_FAILED, Status.MISCONFIGURED),
    (Status.PORTAL_UNAVAILABLE, Status.DEGRADED, Status.ERROR),
    (Status.UNREACHABLE, Status.SERVER_ERROR, Status.BAD_RESPONSE, Status.RATE_LIMITED),
    (Status.OK,),
)

# Higher is worse: an open incident whose status moves up this scale alerts again.
SEVERITY: dict[str, int] = {
    status: len(SEVERITY_ORDER) - 1 - level for level, group in enumerate(SEVERITY_ORDER) for status in group
}
# Higher is worse, one step per status: the sort key of every "worst first" list.
RANK: dict[str, int] = {
    status: len(Status) - 1 - i for i, status in enumerate(s for group in SEVERITY_ORDER for s in group)
}


def rank(status: str) -> int:
    """A status's place in the severity order (higher is worse); pending and unknown rank lowest but ok."""
    return RANK.get(str(status), 0)


# A portal failing with one of these (its probe, or every bot of a run alike) fails its bots too: they are
# recorded with the portal's status, and one portal incident stands for them all (docs/statuses.md).
PORTAL_FAILURES = frozenset(
    {Status.UNREACHABLE, Status.SERVER_ERROR, Status.PORTAL_UNAVAILABLE, Status.AUTH_FAILED, Status.RATE_LIMITED}
)
# A portal that fails but still answers: rate-limited means busy, not down (the overview's "portals
# down" leaves it out; it still holds its bots' checks back).
PORTAL_DOWN = PORTAL_FAILURES - {Status.RATE_LIMITED}
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
    EXTENDED = "extended", _("Extended (owner)")
    BRIEF = "brief", _("Brief (not owner)")


def problem_keys(problems: list | None) -> frozenset[str]:
    """The keys of problems in their stored form (Problem.as_json): what tells them apart."""
    return frozenset(str(p.get("key") or p.get("check")) for p in problems or [])


# What each health-check problem is called on pages and in the status text ("Degraded: event backlog").
PROBLEM_LABELS: dict[str, str] = {  # lazy: read in the language active where shown
    "event_backlog": _("event backlog"),
    "user_inactive": _("bot user switched off"),
    "drift": _("settings changed"),
    "commands": _("commands missing"),
    "reregistered": _("registered again with a new id"),
    "webhook_user": _("webhook's user switched off"),
    "app_installed": _("app installation not finished"),
}


def status_text(status: str, problems: list | None = None) -> str:
    """A status in words; a degraded one names its problems: "Degraded: event backlog, commands missing"."""
    try:
        label = str(BotState(status).label)
    except ValueError:
        label = str(status)
    checks = dict.fromkeys(str(p.get("check", "")) for p in problems or [] if p.get("check"))
    if status != Status.DEGRADED or not checks:
        return label
    return f"{label}: {', '.join(str(PROBLEM_LABELS.get(c, c.replace('_', ' '))) for c in checks)}"
