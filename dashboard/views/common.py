"""Helpers shared by the dashboard views: access, audit trail, the banners ("checks not running", emails)."""

from datetime import timedelta

from django.conf import settings
from django.db.models import Case, Count, IntegerField, Q, Value, When
from django.http import HttpRequest, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _

from checks.models import AuditLog, Bot, Heartbeat, Notification, Portal
from checks.status import RANK, BotState

# Bot columns a list page needs: never the encrypted token (decrypting 10,000 of them is slow).
BOT_LIST_FIELDS = (
    "id",
    "portal_id",
    "code",
    "bot_id",
    "enabled",
    "muted_until",
    "status",
    "status_since",
    "last_checked_at",
    "last_error",
    "problems",
    "last_duration_ms",
    "last_answer_ms",
    "answer",
    "count_message",
    "count_chat",
    "count_user",
    "count_command",
    "portal__name",
    "portal__paused",
    "portal__muted_until",
    "portal__status",
    "portal__status_since",
    "portal__last_error",
    "portal__problems",
    "portal__customer_name",
    "portal__tags",
    # The open hour of packed checks: the heartbeat bars (checks.history.lists).
    "hour_start",
    "hour_checks",
)

PORTAL_SECRETS = Portal.ENCRYPTED_FIELDS
# The same, reached from a row that select_related its portal (bot__portal, incident__portal).
RELATED_PORTAL_SECRETS = tuple(f"portal__{name}" for name in PORTAL_SECRETS)


def heartbeat_stale_after() -> timedelta:
    return timedelta(seconds=getattr(settings, "BOTWATCH_HEARTBEAT_STALE", 60))


def checks_banner(now=None) -> dict | None:
    """Why checks are not running ({"message", "since"}), or None when beat and a worker reported lately."""
    now = now or timezone.now()
    limit = now - heartbeat_stale_after()
    beats = dict(Heartbeat.objects.values_list("name", "seen_at"))
    beat = beats.get("beat")
    workers = [seen for name, seen in beats.items() if name.startswith("worker:")]
    if beat is None:
        return {"message": _("Checks are not running: the scheduler (celery beat) has never reported"), "since": None}
    if beat < limit:
        return {"message": _("Checks are not running: the scheduler (celery beat) last reported"), "since": beat}
    if not workers:
        return {"message": _("Checks are not running: no worker has ever reported"), "since": None}
    if max(workers) < limit:
        return {"message": _("Checks are not running: the last worker report was"), "since": max(workers)}
    return None


EMAIL_PROBLEMS_DAYS = 7


def email_banner(now=None) -> dict | None:
    """Alert emails not delivered: still retried, or failed for good lately; None when all went out.

    {"waiting", "failed", "error"}: the counts, and the newest row's error (written by the
    sender, which never includes a secret: recipients, SMTP replies, "no recipients").
    """
    now = now or timezone.now()
    waiting = Q(state=Notification.State.PENDING, attempts__gt=0) & ~Q(error="")
    failed = Q(state=Notification.State.FAILED, created_at__gte=now - timedelta(days=EMAIL_PROBLEMS_DAYS))
    problems = Notification.objects.filter(waiting | failed)
    counts = problems.aggregate(waiting=Count("pk", filter=waiting), failed=Count("pk", filter=failed))
    if not (counts["waiting"] or counts["failed"]):
        return None
    error = problems.order_by("-created_at", "-pk").values_list("error", flat=True).first()
    return {**counts, "error": error, "days": EMAIL_PROBLEMS_DAYS}


def get_portal(pk: int) -> Portal:
    return get_object_or_404(Portal.objects.defer(*PORTAL_SECRETS), pk=pk)


def get_bot(pk: int) -> Bot:
    return get_object_or_404(Bot.objects.select_related("portal").defer("bot_token", *RELATED_PORTAL_SECRETS), pk=pk)


def audit(request: HttpRequest, action: str, obj=None, changes: dict | None = None, label: str = "") -> None:
    """Writes who changed what; `changes` must never carry a secret (only "changed").

    Through the API the actor is the token ("API token grafana") and the user the account that made it.
    """
    user = getattr(request.user, "audit_user", request.user)
    AuditLog.record(user, request.user.get_username(), action, obj, changes, label)


def redirect_back(request: HttpRequest, default: str) -> HttpResponseRedirect:
    """Back to the page the form came from (POST "next"), if it is one of ours."""
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return HttpResponseRedirect(target)
    return HttpResponseRedirect(default)


def severity_case(field: str = "status") -> Case:
    """The one severity order (checks.status.RANK) as a sort key, higher is worse; doubled so that
    pending fits between ok and the mildest problem: it needs a look too."""
    whens = [When(**{field: status}, then=Value(2 * level)) for status, level in RANK.items()]
    pending = When(**{field: BotState.PENDING}, then=Value(1))
    return Case(*whens, pending, default=Value(0), output_field=IntegerField())


def portal_search(q: str, portal: str = "portal__") -> Q:
    """What a support agent types into a search box: a portal's name, its customer's name or a tag."""
    return (
        Q(**{f"{portal}name__icontains": q})
        | Q(**{f"{portal}customer_name__icontains": q})
        | Q(**{f"{portal}tags__icontains": q})
    )
