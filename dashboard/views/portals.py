"""Portal pages: the list, one portal's page, and the operator's actions on it."""

from datetime import datetime, timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Count, Exists, IntegerField, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from checks.alerts import actions
from checks.customer import links
from checks.customer.report import Month
from checks.engine.dispatch import check_now
from checks.history.lists import portal_recent, recent_beats
from checks.models import Bot, CredentialWarning, Incident, MaintenanceWindow, Portal, Subscription, Verification
from checks.net import addresses
from checks.status import PORTAL_FAILURES, BotState
from dashboard.forms import MaintenanceForm, MuteForm
from dashboard.roles import Role, has_role, require_role
from dashboard.views.channels import portal_channel_rows
from dashboard.views.common import (
    BOT_LIST_FIELDS,
    PORTAL_SECRETS,
    audit,
    checks_banner,
    get_portal,
    redirect_back,
)

BOTS_PER_PAGE = 100
CHECK_WAIT_SECONDS = 90  # how long the page waits for a "check now" before saying so


def _per_portal(rows: QuerySet) -> Coalesce:
    """How many of `rows` belong to each portal, as a subquery. Joining bots and incidents in one
    query instead would make bots x every incident ever opened rows per portal before counting."""
    counts = rows.filter(portal=OuterRef("pk")).order_by().values("portal").annotate(n=Count("pk")).values("n")
    return Coalesce(Subquery(counts, output_field=IntegerField()), 0)


@login_required
def portal_list(request: HttpRequest) -> HttpResponse:
    portals = Portal.objects.defer(*PORTAL_SECRETS).annotate(
        n_bots=_per_portal(Bot.objects.all()),
        n_problems=_per_portal(Bot.objects.exclude(status__in=[BotState.OK, BotState.PENDING])),
        n_open=_per_portal(Incident.objects.filter(state=Incident.State.OPEN)),
        n_warnings=_per_portal(CredentialWarning.objects.all()),
    )
    only_warnings = request.GET.get("warnings") == "1"
    if only_warnings:
        portals = portals.filter(n_warnings__gt=0)
    ctx = {"nav": "portals", "portals": portals, "now": timezone.now(), "only_warnings": only_warnings}
    return render(request, "dashboard/portal_list.html", ctx)


def _credentials(portal: Portal) -> list[tuple[str, str]]:
    """What the page may say about the credentials: kinds and whether set, never a value."""
    p = Portal.objects.only(*PORTAL_SECRETS).get(pk=portal.pk)

    def mask(value: str) -> str:
        return _("set (hidden)") if value else _("not set")

    if portal.auth_type == "webhook":
        return [(_("Webhook user id"), str(portal.webhook_user_id or "—")), (_("Webhook code"), mask(p.webhook_code))]
    if portal.oauth_broker_url:
        return [
            (_("Client id"), portal.oauth_client_id or "—"),
            (_("Token broker"), portal.oauth_broker_url),
            (_("Broker secret"), mask(p.oauth_broker_secret)),
            (_("Access token"), mask(p.oauth_access_token) + " " + _("(from the broker; BotWatch never refreshes)")),
        ]
    return [
        (_("Client id"), portal.oauth_client_id or "—"),
        (_("Client secret"), mask(p.oauth_client_secret)),
        (_("Access token"), mask(p.oauth_access_token)),
        (_("Refresh token"), mask(p.oauth_refresh_token)),
    ]


def _portal_with_subscription(pk: int, user) -> Portal:
    """The portal, and whether `user` gets its alerts by email, in one query (the page's count is bounded)."""
    mine = Subscription.objects.filter(user=user)
    # The channel columns come along: the page lists the channels (masked).
    rows = Portal.objects.defer(*Portal.SECRET_FIELDS).annotate(
        subscribed=Exists(mine.filter(portal=OuterRef("pk"))),
        subscribed_every=Exists(mine.filter(portal__isnull=True)),
    )
    return get_object_or_404(rows, pk=pk)


@login_required
def portal_detail(request: HttpRequest, pk: int) -> HttpResponse:
    portal = _portal_with_subscription(pk, request.user)
    now = timezone.now()
    bots_page = Paginator(
        Bot.objects.filter(portal=portal).select_related("portal").only(*BOT_LIST_FIELDS), BOTS_PER_PAGE
    ).get_page(request.GET.get("page"))
    bots = list(bots_page.object_list)
    beats = recent_beats(bots)
    incidents = list(Incident.objects.filter(portal=portal).select_related("bot").order_by("-opened_at")[:20])
    ctx = {
        "nav": "portals",
        "portal": portal,
        "now": now,
        "credentials": _credentials(portal),
        "rows": [{"bot": b, "beats": beats.get(b.pk, [])} for b in bots],
        "bots_page": bots_page,
        "verifications": portal_recent(portal.pk, now - RECENT_WINDOW),
        "incidents": incidents,
        "windows": MaintenanceWindow.objects.for_portal(portal)
        .filter(Q(ends_at__gt=now) | Q(start_time__isnull=False))
        .select_related("bot"),
        "open_portal_incident": any(
            i.kind == Incident.Kind.PORTAL and i.state == Incident.State.OPEN for i in incidents
        ),
        "maintenance_form": MaintenanceForm(portal=portal),
        "mute_form": MuteForm(),
        "checking": _checking_since(request, portal),
        "banner": checks_banner(now),
        "subscribed": portal.subscribed,
        "subscribed_every": portal.subscribed_every,
        "warnings": CredentialWarning.objects.filter(portal=portal).select_related("bot"),
        "redirect_host": _destination(portal.redirected_to),
        "channels": portal_channel_rows(portal),
        "portal_failing": portal.status in PORTAL_FAILURES,
        "paid_days": (portal.app_paid_until - now.date()).days if portal.app_paid_until else None,
        "status_url": links.page_url(portal.status_token) if portal.status_token_digest else "",
        "report_months": [str(Month.before(now)), str(Month(timezone.localdate(now).replace(day=1)))],
    }
    return render(request, "dashboard/portal_detail.html", ctx)


def _destination(url: str) -> str:
    """Where the credentials would go: the host (and a port of its own) of `url`."""
    try:
        return addresses.parse_address(url, allow_http=True).destination if url else ""
    except addresses.AddressError:
        return ""


# "Recent verifications" of a portal: its newest checks within this window.
RECENT_WINDOW = timedelta(hours=6)


def _portal_rows(portal: Portal, since: datetime):
    """The portal's verification rows since `since`: a "check now" is manual, so each of its checks
    is a whole row (read per bot, through the (bot, slot) key; the table has no index by portal)."""
    bots = Bot.objects.filter(portal=portal).values("pk")
    return Verification.objects.filter(bot_id__in=bots, slot__gte=since - RECENT_WINDOW, checked_at__gte=since)


def _checked_now(portal: Portal, since: datetime):
    rows = (
        _portal_rows(portal, since)
        .select_related("bot")
        .only(
            "id",
            "bot__code",
            "bot__bot_id",
            "bot__portal_id",
            "checked_at",
            "status",
            "error_code",
            "http_status",
            "duration_ms",
            "manual",
        )
    )
    return rows.order_by("-checked_at")[:25]


def _checking_since(request: HttpRequest, portal: Portal):
    """The time of this user's pending "check now" on this portal, kept in the session."""
    raw = request.session.get(f"check-now-{portal.pk}")
    if not raw:
        return None
    since = datetime.fromisoformat(raw)
    if timezone.now() - since > timedelta(seconds=CHECK_WAIT_SECONDS * 10):
        return None
    return since


@login_required
def portal_check_status(request: HttpRequest, pk: int) -> HttpResponse:
    """Fragment polled after "check now": the verifications since the request, once they land."""
    portal = get_portal(pk)
    since = _checking_since(request, portal)
    rows = list(_checked_now(portal, since)) if since else []
    expected = Bot.objects.filter(portal=portal, enabled=True).count()
    answered = _portal_rows(portal, since).values("bot_id").distinct().count() if since else 0
    done = since is None or answered >= expected
    timed_out = since is not None and not done and timezone.now() - since > timedelta(seconds=CHECK_WAIT_SECONDS)
    if done or timed_out:
        request.session.pop(f"check-now-{portal.pk}", None)
    ctx = {
        "portal": portal,
        "since": since,
        "rows": rows,
        "done": done,
        "timed_out": timed_out,
        "expected": expected,
        "answered": answered,
    }
    return render(request, "dashboard/_check_status.html", ctx)


@login_required
@require_POST
def portal_check_now(request: HttpRequest, pk: int) -> HttpResponse:
    require_role(request, Role.OPERATOR)
    portal = get_portal(pk)
    if portal.paused:
        messages.error(request, _("%(name)s is paused: resume it to run checks.") % {"name": portal.name})
    elif check_now(portal.pk):
        request.session[f"check-now-{portal.pk}"] = timezone.now().isoformat()
        audit(request, "check now", portal)
    else:
        messages.info(
            request,
            _("A verification of %(name)s is running already; its results appear below.") % {"name": portal.name},
        )
    return redirect("dashboard:portal-detail", pk=portal.pk)


@login_required
@require_POST
def portal_accept_redirect(request: HttpRequest, pk: int) -> HttpResponse:
    """The address the portal redirects to becomes its address, and the stored credentials go there.

    An admin's act: it decides where the credentials go, which only admins manage."""
    require_role(request, Role.ADMIN)
    portal = get_portal(pk)
    address = request.POST.get("address", "")
    if not portal.redirected_to or address != portal.redirected_to:
        # The page was older than the portal's latest redirect: accept only what was shown.
        return HttpResponseBadRequest("The portal's new address changed meanwhile: reload the page.")
    problem = addresses.portal_url_problem(address)
    if problem:
        messages.error(
            request,
            _("%(name)s: the new address cannot be used: %(problem)s.") % {"name": portal.name, "problem": problem},
        )
        return redirect("dashboard:portal-detail", pk=portal.pk)
    changed = Portal.objects.filter(pk=portal.pk, redirected_to=address).update(
        url=address, redirected_to="", redirect_refused=False, updated_at=timezone.now()
    )
    if changed:
        changes = {"url": [portal.url, address], "credentials sent to": _destination(address)}
        audit(request, "accept new address", portal, changes)
        check_now(portal.pk)
        messages.success(
            request,
            _("%(name)s now lives at %(address)s; it is being checked there.")
            % {"name": portal.name, "address": address},
        )
    return redirect("dashboard:portal-detail", pk=portal.pk)


@login_required
@require_POST
def portal_pause(request: HttpRequest, pk: int) -> HttpResponse:
    require_role(request, Role.OPERATOR)
    portal = get_portal(pk)
    paused = request.POST.get("paused") == "1"
    Portal.objects.filter(pk=portal.pk).update(paused=paused, updated_at=timezone.now())
    audit(request, "pause" if paused else "resume", portal, {"paused": paused})
    done = _("%(portal)s paused: no checks until resumed.") if paused else _("%(portal)s resumed.")
    messages.success(request, done % {"portal": portal.name})
    return redirect("dashboard:portal-detail", pk=portal.pk)


@login_required
@require_POST
def portal_mute(request: HttpRequest, pk: int) -> HttpResponse:
    require_role(request, Role.OPERATOR)
    portal = get_portal(pk)
    form = MuteForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose how long to mute for."))
        return redirect("dashboard:portal-detail", pk=portal.pk)
    until = form.until()
    actions.mute_portal(portal, until, request.user)
    audit(request, "mute" if until else "unmute", portal, {"muted_until": until.isoformat() if until else None})
    messages.success(
        request,
        _("%(name)s: alerts muted.") % {"name": portal.name}
        if until
        else _("%(name)s: alerts unmuted.") % {"name": portal.name},
    )
    return redirect_back(request, reverse("dashboard:portal-detail", args=[portal.pk]))


@login_required
@require_POST
def maintenance_create(request: HttpRequest, pk: int) -> HttpResponse:
    require_role(request, Role.OPERATOR)
    portal = get_portal(pk)
    form = MaintenanceForm(request.POST, portal=portal)
    if form.is_valid():
        window = form.save(commit=False)
        # "Every portal" covers the whole fleet: an administrator's call.
        every = form.cleaned_data["every_portal"] and has_role(request.user, Role.ADMIN) and window.bot_id is None
        window.portal = None if every else portal
        window.created_by = request.user
        window.save()
        where = "every portal" if every else portal.name
        audit(
            request,
            "maintenance window",
            None if every else portal,
            {"window": window.describe(), "note": window.note},
            label=where,
        )
        messages.success(
            request,
            _("Maintenance window saved for %(where)s (%(window)s): alerts are held back during it.")
            % {"where": _("every portal") if every else portal.name, "window": window.describe()},
        )
    else:
        errors = "; ".join(
            f"{form.fields[k].label if k in form.fields else _('Window')}: {' '.join(v)}"
            for k, v in form.errors.items()
        )
        messages.error(request, _("Maintenance window not saved: %(errors)s") % {"errors": errors})
    return redirect("dashboard:portal-detail", pk=portal.pk)


@login_required
@require_POST
def maintenance_delete(request: HttpRequest, pk: int) -> HttpResponse:
    require_role(request, Role.OPERATOR)
    window = get_object_or_404(MaintenanceWindow.objects.select_related("portal"), pk=pk)
    where = window.portal.name if window.portal else "every portal"
    audit(request, "end maintenance window", window.portal, {"window": window.describe()}, label=where)
    window.delete()
    messages.success(request, _("Maintenance window removed (%(window)s).") % {"window": window.describe()})
    return redirect_back(request, reverse("dashboard:alerts"))
