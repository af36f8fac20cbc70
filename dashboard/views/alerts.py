"""The alerts page: open, acknowledged and resolved incidents with their timelines."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Prefetch
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from checks.alerts import actions
from checks.models import Incident, IncidentEvent
from dashboard.forms import AckForm, MuteForm
from dashboard.roles import Role, require_role
from dashboard.views.channels import failing_channels
from dashboard.views.common import RELATED_PORTAL_SECRETS, audit, checks_banner, email_banner, redirect_back

TABS = {
    "open": ("Open", {"state": Incident.State.OPEN, "acknowledged_at__isnull": True}),
    "acknowledged": ("Acknowledged", {"state": Incident.State.OPEN, "acknowledged_at__isnull": False}),
    "resolved": ("Resolved", {"state": Incident.State.RESOLVED}),
}
PAGE_SIZE = 25


def _incidents(tab: str):
    order = "-resolved_at" if tab == "resolved" else "-opened_at"
    events = IncidentEvent.objects.select_related("user").order_by("created_at", "id")
    return (
        Incident.objects.filter(**TABS[tab][1])
        .select_related("bot", "portal", "acknowledged_by")
        .defer("bot__bot_token", *RELATED_PORTAL_SECRETS, "bot__fields", "bot__users")
        .prefetch_related(Prefetch("events", queryset=events))
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
        label = f"incident #{incident.pk}: {incident.bot.label} on {incident.portal.name}"
        audit(request, "acknowledge", incident, {"note": form.cleaned_data["note"]}, label=label)
        messages.success(request, f"Incident on {incident.bot.label} ({incident.portal.name}) acknowledged.")
    else:
        messages.error(request, "The note is too long (2,000 characters at most).")
    return redirect_back(request, reverse("dashboard:alerts"))
