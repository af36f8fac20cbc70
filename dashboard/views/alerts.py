"""The alerts page: open, acknowledged and resolved incidents with their timelines, for a fleet.

Incidents of bots, of whole portals, and fleet waves with their portals; a wave's parts are shown
inside it, not one by one. Worst status first, then the longest-failing; filters, search over
portals, customers, tags and bot codes, grouping by portal; bulk acknowledge, mute and maintenance.
Muted incidents and those in a maintenance window are listed apart: no alert goes out for them.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Count, IntegerField, OuterRef, Prefetch, Q, Subquery
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.utils.text import format_lazy
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext, pgettext_lazy
from django.views.decorators.http import require_POST

from checks.alerts import actions
from checks.models import Incident, IncidentEvent, MaintenanceWindow, Portal
from checks.status import PORTAL_FAILURES, Status
from dashboard.forms import MUTE_CHOICES, MUTE_DELTAS, AckForm, MuteForm
from dashboard.roles import Role, require_role
from dashboard.views.channels import failing_channels
from dashboard.views.common import (
    RELATED_PORTAL_SECRETS,
    audit,
    checks_banner,
    email_banner,
    portal_search,
    redirect_back,
    severity_case,
)

TABS = {
    "open": (
        pgettext_lazy("incidents tab", "Open"),
        {"state": Incident.State.OPEN, "acknowledged_at__isnull": True, "wave__isnull": True},
    ),
    "acknowledged": (
        pgettext_lazy("incidents tab", "Acknowledged"),
        {"state": Incident.State.OPEN, "acknowledged_at__isnull": False, "wave__isnull": True},
    ),
    "resolved": (pgettext_lazy("incidents tab", "Resolved"), {"state": Incident.State.RESOLVED, "wave__isnull": True}),
}
PAGE_SIZE = 100  # two fleets' worth of incidents on one page, so a bulk action reaches them all
BULK_ACTIONS = {
    "acknowledge": gettext_lazy("Acknowledge"),
    **{
        f"mute:{key}": format_lazy(gettext_lazy("Mute {duration}"), duration=label)
        for key, label in MUTE_CHOICES
        if key != "off"
    },
    **{
        f"maintenance:{key}": format_lazy(gettext_lazy("Maintenance {duration}"), duration=label)
        for key, label in MUTE_CHOICES
        if key != "off"
    },
}


def quiet_now(now) -> dict:
    """Who is in maintenance at `now`: {"all": bool, "portals": ids, "bots": ids} (one query)."""
    windows = MaintenanceWindow.objects.select_related("portal").covering(now)
    return {
        "windows": windows,
        "all": any(w.portal_id is None for w in windows),
        "portals": {w.portal_id for w in windows if w.portal_id and not w.bot_id},
        "bots": {w.bot_id for w in windows if w.bot_id},
    }


def _quiet_q(now, maint: dict) -> Q:
    if maint["all"]:
        return Q(pk__isnull=False)
    return (
        Q(portal__muted_until__gt=now)
        | Q(bot__muted_until__gt=now)
        | Q(portal_id__in=maint["portals"])
        | Q(bot_id__in=maint["bots"])
    )


def _filters(request: HttpRequest) -> dict:
    get = request.GET
    state = get.get("state", "open")
    return {
        "state": state if state in TABS else "open",
        "status": get.get("status", "") if get.get("status", "") in Status.values else "",
        "portal": get.get("portal", ""),
        "customer": get.get("customer", ""),
        "tag": get.get("tag", ""),
        "muted": get.get("muted", "") if get.get("muted", "") in ("live", "quiet") else "",
        "q": get.get("q", "").strip()[:100],
        "group": get.get("group", "") == "portal",
    }


def _filtered(incidents, f: dict, now, maint: dict):
    if f["status"]:
        incidents = incidents.filter(last_status=f["status"])
    if f["portal"]:
        incidents = incidents.filter(portal__name=f["portal"])
    if f["customer"]:
        incidents = incidents.filter(portal__customer_name=f["customer"])
    if f["tag"]:
        incidents = incidents.filter(portal__tags__contains=[f["tag"]])
    if f["muted"] == "quiet":
        incidents = incidents.filter(_quiet_q(now, maint))
    elif f["muted"] == "live":
        incidents = incidents.exclude(_quiet_q(now, maint))
    if f["q"]:
        q = f["q"]
        incidents = incidents.filter(portal_search(q) | Q(bot__code__icontains=q) | Q(wave_code__icontains=q))
    return incidents


def _incidents(f: dict, now, maint: dict):
    tab = f["state"]
    events = IncidentEvent.objects.select_related("user", "portal").order_by("created_at", "id")
    parts = (
        Incident.objects.select_related("bot", "portal")
        .defer("bot__bot_token", *RELATED_PORTAL_SECRETS, "bot__fields", "bot__users")
        .order_by("started_at", "pk")
    )
    # "acme unreachable: 12 bots not verified": the enabled bots of a portal incident's portal.
    bots = (
        Incident.objects.filter(pk=OuterRef("pk"))
        .annotate(n=Count("portal__bots", filter=Q(portal__bots__enabled=True)))
        .values("n")
    )
    # Worst status first, then the longest-failing; resolved ones newest first.
    order = ["-resolved_at"] if tab == "resolved" else ["-rank", "started_at"]
    if f["group"]:
        order = ["portal__name", *order]
    rows = (
        Incident.objects.filter(**TABS[tab][1])
        .select_related("bot", "portal", "acknowledged_by")
        .defer("bot__bot_token", *RELATED_PORTAL_SECRETS, "bot__fields", "bot__users")
        .annotate(n_bots=Coalesce(Subquery(bots, output_field=IntegerField()), 0), rank=severity_case("last_status"))
        .prefetch_related(Prefetch("events", queryset=events), Prefetch("parts", queryset=parts))
    )
    return _filtered(rows, f, now, maint).order_by(*order, "-id")


def _mark_quiet(incidents: list[Incident], now, maint: dict) -> None:
    """Each incident's `quiet`: why no alert goes out for it now ("muted", "in maintenance"), or ""."""
    for inc in incidents:
        portal, bot = inc.portal, inc.bot
        if maint["all"] or (portal and inc.portal_id in maint["portals"]) or (bot and inc.bot_id in maint["bots"]):
            inc.quiet = "in maintenance"
        elif (portal and portal.is_muted(now)) or (bot and bot.muted_until and bot.muted_until > now):
            inc.quiet = "muted"
        else:
            inc.quiet = ""


@login_required
def alerts(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    f = _filters(request)
    maint = quiet_now(now)
    counts = Incident.objects.aggregate(**{key: Count("pk", filter=Q(**flt)) for key, (_, flt) in TABS.items()})
    portals = list(Portal.objects.values_list("name", "customer_name", "tags"))
    page = Paginator(_incidents(f, now, maint), PAGE_SIZE).get_page(request.GET.get("page"))
    incidents = list(page.object_list)
    _mark_quiet(incidents, now, maint)
    query = request.GET.copy()
    query.pop("page", None)
    ctx = {
        "nav": "alerts",
        "tab": f["state"],
        "filters": f,
        "filtered": any(value for key, value in f.items() if key not in ("state", "group")),
        "tabs": [(key, label, counts[key]) for key, (label, _filter) in TABS.items()],
        "page": page,
        "live": [i for i in incidents if not i.quiet or f["state"] == "resolved"],
        "quiet": [i for i in incidents if i.quiet and f["state"] != "resolved"],
        "query": query.urlencode(),
        "statuses": [(s.value, s.label) for s in Status if s != Status.OK],
        "portal_names": [name for name, _, _ in portals],
        "customers": sorted({customer for _, customer, _ in portals if customer}),
        "tags": sorted({tag for _, _, tags in portals for tag in tags or []}),
        "bulk_actions": BULK_ACTIONS,
        "windows": maint["windows"],
        "ack_form": AckForm(),
        "mute_form": MuteForm(),
        "now": now,
        "banner": checks_banner(),
        "email_problems": email_banner(),
        "failing_channels": failing_channels(),
        "portal_failures": [str(status) for status in PORTAL_FAILURES],
    }
    return render(request, "dashboard/alerts.html", ctx)


@login_required
@require_POST
def alerts_bulk(request: HttpRequest) -> HttpResponse:
    """One action on the ticked open incidents: acknowledge, mute their subject, or put their portals
    in maintenance from now. Each change is written to the audit log."""
    require_role(request, Role.OPERATOR)
    back = redirect_back(request, reverse("dashboard:alerts"))
    action = request.POST.get("action", "")
    ids = [int(i) for i in request.POST.getlist("ids") if i.isdigit()][:PAGE_SIZE]
    if action not in BULK_ACTIONS:
        messages.error(request, _("Choose what to do with the ticked incidents."))
        return back
    incidents = list(
        Incident.objects.filter(pk__in=ids, state=Incident.State.OPEN)
        .select_related("bot", "portal")
        .prefetch_related(Prefetch("parts", queryset=Incident.objects.select_related("bot", "portal")))
    )
    if not incidents:
        messages.error(request, _("Tick at least one open incident first."))
        return back
    verb, _sep, duration = action.partition(":")
    done = _BULK[verb](request, incidents, duration)
    messages.success(
        request,
        ngettext("%(action)s: %(done)s of %(n)s incident.", "%(action)s: %(done)s of %(n)s incidents.", len(incidents))
        % {"action": BULK_ACTIONS[action], "done": done, "n": len(incidents)},
    )
    return back


def _bulk_ack(request: HttpRequest, incidents: list[Incident], _duration: str) -> int:
    note = request.POST.get("note", "")[:2000]
    done = 0
    for inc in incidents:
        if actions.acknowledge(inc, request.user, note=note):
            audit(request, "acknowledge", inc, {"note": note}, label=f"incident #{inc.pk}: {inc.subject}")
            done += 1
    return done


def _subjects(incidents: list[Incident]) -> tuple[dict, dict]:
    """The portals and bots the incidents are about (a wave: its parts' bots)."""
    portals, bots = {}, {}
    for inc in incidents:
        if inc.kind == Incident.Kind.PORTAL:
            portals[inc.portal_id] = inc.portal
        elif inc.kind == Incident.Kind.WAVE:
            bots.update({part.bot_id: part.bot for part in inc.parts.all()})
        else:
            bots[inc.bot_id] = inc.bot
    return portals, bots


def _bulk_mute(request: HttpRequest, incidents: list[Incident], duration: str) -> int:
    until = timezone.now() + MUTE_DELTAS[duration]
    portals, bots = _subjects(incidents)
    for portal in portals.values():
        actions.mute_portal(portal, until, request.user)
        audit(request, "mute", portal, {"muted_until": f"{until:%Y-%m-%d %H:%M} UTC"})
    for bot in bots.values():
        actions.mute_bot(bot, until, request.user)
        audit(request, "mute", bot, {"muted_until": f"{until:%Y-%m-%d %H:%M} UTC"})
    return len(incidents)


def _bulk_maintenance(request: HttpRequest, incidents: list[Incident], duration: str) -> int:
    now = timezone.now()
    portals, bots = _subjects(incidents)
    portals.update({bot.portal_id: bot.portal for bot in bots.values()})
    for portal in portals.values():
        window = MaintenanceWindow.objects.create(
            portal=portal,
            starts_at=now,
            ends_at=now + MUTE_DELTAS[duration],
            created_by=request.user,
            note=request.POST.get("note", "")[:300],
        )
        audit(request, "maintenance window", portal, {"window": window.describe(), "note": window.note})
    return len(incidents)


_BULK = {"acknowledge": _bulk_ack, "mute": _bulk_mute, "maintenance": _bulk_maintenance}


@login_required
@require_POST
def incident_ack(request: HttpRequest, pk: int) -> HttpResponse:
    require_role(request, Role.OPERATOR)
    incident = get_object_or_404(Incident.objects.select_related("bot", "portal"), pk=pk)
    form = AckForm(request.POST)
    if incident.state != Incident.State.OPEN:
        messages.info(request, _("That incident is resolved already."))
    elif form.is_valid():
        actions.acknowledge(incident, request.user, note=form.cleaned_data["note"])
        label = f"incident #{incident.pk}: {incident.subject}"
        audit(request, "acknowledge", incident, {"note": form.cleaned_data["note"]}, label=label)
        messages.success(request, _("Incident of %(subject)s acknowledged.") % {"subject": incident.subject})
    else:
        messages.error(request, _("The note is too long (2,000 characters at most)."))
    return redirect_back(request, reverse("dashboard:alerts"))
