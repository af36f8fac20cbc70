"""Notification channels in the dashboard: the Notifications page (named channels, added, edited,
removed, applied to all portals), their health on the portal and Alerts pages, "send a test".

Pages know a channel by its label (scheme and host) and fingerprint; the URL never leaves the server.
"""

from datetime import timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.db.models import Max, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from checks.alerts.channel_urls import label
from checks.alerts.channels import channel_users, find_channel, listed_channels, replace_channel_url
from checks.alerts.notifiers import REASONS, ChatMessage, NotifierError, send_to_channel
from checks.models import Channel, ChannelDelivery, Portal
from dashboard.forms import ChannelForm
from dashboard.roles import Role, has_role, require_role
from dashboard.views.common import audit, redirect_back

PROBLEM_DAYS = 7
RECENT_ROWS = 500  # problem rows read for the Alerts page: enough to name every failing channel


def portal_channel_rows(portal: Portal) -> list[dict]:
    """The portal page's channels, each with its latest delivery (one query for all of them)."""
    channels = listed_channels(portal)
    if not channels:
        return []
    fingerprints = [c.fingerprint for c in channels]
    newest = (
        ChannelDelivery.objects.filter(fingerprint__in=fingerprints).values("fingerprint").annotate(newest=Max("pk"))
    )
    rows = ChannelDelivery.objects.filter(pk__in=newest.values("newest")).defer("url")  # one query, a subquery
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
        .only(
            "fingerprint",
            "label",
            "state",
            "error",
            "reason",
            "created_at",
            "last_attempt_at",
            "notification__portal__name",
        )
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
        # What happened and what to do, in the reader's words; the error above is the technical detail.
        "why": REASONS.get(row.reason) or REASONS["failed"],
        "last_attempt_at": row.last_attempt_at,
        "since": row.created_at,
        "days": PROBLEM_DAYS,
    }


def channel_rows(channels: list[Channel]) -> list[dict]:
    """The Notifications page's rows: each channel, the portals that name it, its latest delivery."""
    users = channel_users(channels)
    newest = (
        ChannelDelivery.objects.filter(fingerprint__in=[c.fingerprint for c in channels])
        .values("fingerprint")
        .annotate(newest=Max("pk"))
    )
    latest = {
        d.fingerprint: d for d in ChannelDelivery.objects.filter(pk__in=[r["newest"] for r in newest]).defer("url")
    }
    return [
        {"channel": c, "label": label(c.url), "portals": users[c.fingerprint], "latest": latest.get(c.fingerprint)}
        for c in channels
    ]


@login_required
def notifications(request: HttpRequest) -> HttpResponse:
    """The Notifications page: every channel; admins add one here (a failed add keeps what was typed)."""
    form = None
    if request.method == "POST":
        require_role(request, Role.ADMIN)
        form = ChannelForm(request.POST)
        if form.is_valid():
            channel = _save_channel(request, form, "add channel")
            messages.success(
                request, _("Channel “%(name)s” added. Send it a test to see that it works.") % {"name": channel.name}
            )
            return redirect("dashboard:notifications")
    if form is None and has_role(request.user, Role.ADMIN):
        form = ChannelForm()
    channels = list(Channel.objects.all())
    ctx = {"nav": "notifications", "rows": channel_rows(channels), "form": form, "adding": request.method == "POST"}
    return render(request, "dashboard/notifications.html", ctx, status=400 if request.method == "POST" else 200)


@login_required
def channel_edit(request: HttpRequest, pk: int) -> HttpResponse:
    require_role(request, Role.ADMIN)
    channel = get_object_or_404(Channel, pk=pk)
    form = ChannelForm(request.POST or None, instance=channel)
    if request.method == "POST" and form.is_valid():
        _save_channel(request, form, "edit channel")
        messages.success(request, _("Channel “%(name)s” saved.") % {"name": channel.name})
        return redirect("dashboard:notifications")
    ctx = {"nav": "notifications", "form": form, "channel": channel, "label": label(channel.url)}
    return render(request, "dashboard/channel_form.html", ctx, status=400 if form.errors else 200)


def _save_channel(request: HttpRequest, form: ChannelForm, action: str) -> Channel:
    """Saves the channel; a new URL replaces the old one on every portal that names it. Audited without the URL."""
    with transaction.atomic():
        before = form.apply_url()
        channel = form.save()
        portals = replace_channel_url(before, channel.url) if before else []
        changes = {
            "fields": sorted(set(form.changed_data) - {"url"}),
            "url": "changed" if form.cleaned_data.get("url") else "kept",
        }
        if portals:
            changes["portals"] = [p.name for p in portals]
        audit(request, action, None, changes, label=channel.name)
    return channel


@login_required
@require_POST
def channel_delete(request: HttpRequest, pk: int) -> HttpResponse:
    """Removes the channel, and from every portal naming it (its deliveries stay, for the record)."""
    require_role(request, Role.ADMIN)
    channel = get_object_or_404(Channel, pk=pk)
    with transaction.atomic():
        portals = replace_channel_url(channel.url, None)
        channel.delete()
        audit(request, "delete channel", None, {"portals": [p.name for p in portals]}, label=channel.name)
    messages.success(request, _("Channel “%(name)s” removed.") % {"name": channel.name})
    return redirect("dashboard:notifications")


def _channel_url(portal: Portal | None, fingerprint: str) -> str | None:
    """The URL behind a fingerprint: a named channel, the portal's and the defaults, else the latest delivery's."""
    named = Channel.objects.filter(fingerprint=fingerprint).values_list("url", flat=True).first()
    url = named or find_channel(portal, fingerprint)
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
        if request.htmx:
            return _test_result(request, ok=False, text=_("That channel is not configured any more."))
        messages.error(request, _("That channel is not configured any more."))
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
        said = _("Test message to %(channel)s failed: %(reason)s") % {
            "channel": shown,
            "reason": f"{exc.result}: {exc.message}",
        }
    else:
        result, said = "sent", _("Test message sent to %(channel)s: delivered.") % {"channel": shown}
    audit(request, "send test message", portal, {"channel": shown, "result": result[:500]}, label=shown)
    if request.htmx:  # beside the button that was pressed
        return _test_result(request, ok=result == "sent", text=said)
    (messages.success if result == "sent" else messages.error)(request, said)
    return redirect_back(request, back)


def _test_result(request: HttpRequest, *, ok: bool, text: str) -> HttpResponse:
    return render(request, "dashboard/_channel_test_result.html", {"ok": ok, "text": text})
