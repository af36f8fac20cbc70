"""Notification channels in the dashboard: their health on the portal and Alerts pages, "send a test".

Pages know a channel by its label (scheme and host) and fingerprint; the URL never leaves the server.
"""

from datetime import timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Max, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from checks.alerts.channel_urls import label
from checks.alerts.channels import find_channel, listed_channels
from checks.alerts.notifiers import ChatMessage, NotifierError, send_to_channel
from checks.models import ChannelDelivery, Portal
from dashboard.roles import Role, require_role
from dashboard.views.common import audit, redirect_back

PROBLEM_DAYS = 7
RECENT_ROWS = 500  # problem rows read for the Alerts page: enough to name every failing channel


def portal_channel_rows(portal: Portal) -> list[dict]:
    """The portal page's channels, each with its latest delivery (two queries for all of them)."""
    channels = listed_channels(portal)
    if not channels:
        return []
    fingerprints = [c.fingerprint for c in channels]
    newest = (
        ChannelDelivery.objects.filter(fingerprint__in=fingerprints).values("fingerprint").annotate(newest=Max("pk"))
    )
    rows = ChannelDelivery.objects.filter(pk__in=[row["newest"] for row in newest]).defer("url")
    latest = {row.fingerprint: row for row in rows}
    return [{"channel": c, "latest": latest.get(c.fingerprint)} for c in channels]


def failing_channels(now=None) -> list[dict]:
    """Channels whose messages are not getting through: retried now, or failed for good lately.

    A channel whose latest delivery went through since is left out: it has recovered.
    """
    now = now or timezone.now()
    waiting = Q(state=ChannelDelivery.State.PENDING, attempts__gt=0) & ~Q(error="")
    failed = Q(state=ChannelDelivery.State.FAILED, created_at__gte=now - timedelta(days=PROBLEM_DAYS))
    problems = (
        ChannelDelivery.objects.filter(waiting | failed)
        .select_related("notification__portal")
        .only("fingerprint", "label", "state", "error", "created_at", "last_attempt_at", "notification__portal__name")
        .order_by("-last_attempt_at", "-pk")[:RECENT_ROWS]
    )
    found: dict[str, dict] = {}
    for row in problems:
        entry = found.setdefault(row.fingerprint, _entry(row))
        entry["waiting" if row.state == ChannelDelivery.State.PENDING else "failed"] += 1
        entry["since"] = min(entry["since"], row.created_at)
        if row.notification.portal and row.notification.portal.name not in entry["portals"]:
            entry["portals"].append(row.notification.portal.name)
    sent = (
        ChannelDelivery.objects.filter(fingerprint__in=found, state=ChannelDelivery.State.SENT)
        .values("fingerprint")
        .annotate(last=Max("sent_at"))
    )
    for row in sent:
        entry = found[row["fingerprint"]]
        if not entry["waiting"] and entry["last_attempt_at"] and row["last"] > entry["last_attempt_at"]:
            del found[row["fingerprint"]]
    return list(found.values())


def _entry(row: ChannelDelivery) -> dict:
    portal = row.notification.portal
    return {
        "label": row.label,
        "fingerprint": row.fingerprint,
        "portal_id": portal.pk if portal else None,
        "portals": [],
        "waiting": 0,
        "failed": 0,
        "error": row.error,
        "last_attempt_at": row.last_attempt_at,
        "since": row.created_at,
        "days": PROBLEM_DAYS,
    }


def _channel_url(portal: Portal | None, fingerprint: str) -> str | None:
    """The URL behind a fingerprint: the portal's channels and the defaults, else the latest delivery's."""
    url = find_channel(portal, fingerprint)
    if url is None:
        rows = ChannelDelivery.objects.filter(fingerprint=fingerprint).order_by("-created_at", "-pk")
        url = rows.values_list("url", flat=True).first()
    return url


@login_required
@require_POST
def channel_test(request: HttpRequest) -> HttpResponse:
    """Sends a test message to one channel now and says how it went (operator role, audited)."""
    require_role(request, Role.OPERATOR)
    portal_id = request.POST.get("portal") or None
    portal = get_object_or_404(Portal, pk=portal_id) if portal_id else None
    back = reverse("dashboard:portal-detail", args=[portal.pk]) if portal else reverse("dashboard:alerts")
    url = _channel_url(portal, request.POST.get("fingerprint", ""))
    if url is None:
        messages.error(request, "That channel is not configured any more.")
        return redirect_back(request, back)
    shown = label(url)
    when = timezone.now().strftime("%Y-%m-%d %H:%M UTC")
    message = ChatMessage(
        title="[BotWatch] Test message",
        body=f"Sent from the BotWatch dashboard by {request.user.get_username()} at {when}: alerts reach this channel.",
    )
    # The result in a few words first ("refused: private address", "timed out after 10 s",
    # "HTTP 404"): a refused address is refused before connecting, so no port is told from another.
    try:
        send_to_channel(url, message)
    except NotifierError as exc:
        result = f"failed: {exc.result}: {exc.message}"
        messages.error(request, f"Test message to {shown} {result}")
    else:
        result = "sent"
        messages.success(request, f"Test message sent to {shown}: delivered.")
    audit(request, "send test message", portal, {"channel": shown, "result": result[:500]}, label=shown)
    return redirect_back(request, back)
