"""The alerts page: open, acknowledged and resolved incidents with their timelines.

Incidents of bots, of whole portals, and fleet waves with their portals; a wave's parts are shown
inside it, not one by one.
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
from django.views.decorators.http import require_POST

from checks.alerts import actions
from checks.models import Incident, IncidentEvent
from checks.status import PORTAL_FAILURES
from dashboard.forms import AckForm, MuteForm
from dashboard.roles import Role, require_role
from dashboard.views.channels import failing_channels
from dashboard.views.common import RELATED_PORTAL_SECRETS, audit, checks_banner, email_banner, redirect_back

TABS = {
    "open": ("Open", {"state": Incident.State.OPEN, "acknowledged_at__isnull": True, "wave__isnull": True}),
    "acknowledged": (
        "Acknowledged",
        {"state": Incident.State.OPEN, "acknowledged_at__isnull": False, "wave__isnull": True},
    ),
    "resolved": ("Resolved", {"state": Incident.State.RESOLVED, "wave__isnull": True}),
}
PAGE_SIZE = 25


def _incidents(tab: str):
    order = "-resolved_at" if tab == "resolved" else "-opened_at"
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
    return (
        Incident.objects.filter(**TABS[tab][1])
        .select_related("bot", "portal", "acknowledged_by")
        .defer("bot__bot_token", *RELATED_PORTAL_SECRETS, "bot__fields", "bot__users")
        .annotate(n_bots=Coalesce(Subquery(bots, output_field=IntegerField()), 0))
        .prefetch_related(Prefetch("events", queryset=events), Prefetch("parts", queryset=parts))
        .order_by(order, "-id")
    )


@login_required
def alerts(request: HttpRequest) -> HttpResponse:
    tab = request.GET.get("state", "open")
    if tab not in TABS:
        tab = "open"
    counts = {key: Incident.objects.filter(**flt).count() for key, (_, flt) in TABS.items()}
    page = Paginator(_incidents(tab), PAGE_SIZE).get_page(request.GET.get("page"))
    ctx = {
        "nav": "alerts",
        "tab": tab,
        "tabs": [(key, label, counts[key]) for key, (label, _) in TABS.items()],
        "page": page,
        "ack_form": AckForm(),
        "mute_form": MuteForm(),
        "now": timezone.now(),
        "banner": checks_banner(),
        "email_problems": email_banner(),
        "failing_channels": failing_channels(),
        "portal_failures": [str(status) for status in PORTAL_FAILURES],
    }
    return render(request, "dashboard/alerts.html", ctx)


@login_required
@require_POST
def incident_ack(request: HttpRequest, pk: int) -> HttpResponse:
    require_role(request, Role.OPERATOR)
    incident = get_object_or_404(Incident.objects.select_related("bot", "portal"), pk=pk)
    form = AckForm(request.POST)
    if incident.state != Incident.State.OPEN:
        messages.info(request, "That incident is resolved already.")
    elif form.is_valid():
        actions.acknowledge(incident, request.user, note=form.cleaned_data["note"])
        label = f"incident #{incident.pk}: {incident.subject}"
        audit(request, "acknowledge", incident, {"note": form.cleaned_data["note"]}, label=label)
        messages.success(request, f"Incident of {incident.subject} acknowledged.")
    else:
        messages.error(request, "The note is too long (2,000 characters at most).")
    return redirect_back(request, reverse("dashboard:alerts"))
