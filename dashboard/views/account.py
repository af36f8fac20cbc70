"""The user's own account: email address and alert subscriptions. Any role, about themselves only."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from checks.models import Portal, Subscription
from dashboard import twofactor
from dashboard.forms import AccountEmailForm
from dashboard.views.common import audit, get_portal, redirect_back

NO_EMAIL = "Alert emails need an email address: add yours, then subscribe."


@login_required
def account(request: HttpRequest) -> HttpResponse:
    return _account_page(request, AccountEmailForm(instance=request.user))


def _account_page(request: HttpRequest, form: AccountEmailForm, status: int = 200) -> HttpResponse:
    subscriptions = list(
        Subscription.objects.filter(user=request.user)
        .select_related("portal")
        .only("id", "portal_id", "portal__name", "portal__paused")
        .order_by("portal__name")
    )
    ctx = {
        "nav": "account",
        "form": form,
        "every_portal": any(s.portal_id is None for s in subscriptions),
        "portals": [s.portal for s in subscriptions if s.portal_id is not None],
        "two_factor": twofactor.has_device(request),
    }
    return render(request, "dashboard/account.html", ctx, status=status)


@login_required
@require_POST
def account_email(request: HttpRequest) -> HttpResponse:
    before = request.user.email
    form = AccountEmailForm(request.POST, instance=request.user)
    if not form.is_valid():
        # The page again with what was typed and the error beside it.
        return _account_page(request, form, status=400)
    user = form.save(commit=False)
    if user.email != before:
        user.save(update_fields=["email"])  # only the address: nothing else of the user row is rewritten
        audit(request, "change email", user, {"email": [before, user.email]})
        messages.success(request, _email_saved(user.email))
    return redirect("dashboard:account")


def _email_saved(email: str) -> str:
    return (
        f"Alerts you subscribe to now go to {email}." if email else "Email address removed: no alert emails reach you."
    )


@login_required
@require_POST
def subscribe_every_portal(request: HttpRequest) -> HttpResponse:
    wanted = request.POST.get("subscribed") == "1"
    if wanted and not request.user.email:
        messages.error(request, NO_EMAIL)
    elif _set_subscription(request.user, None, wanted):
        audit(request, "subscribe" if wanted else "unsubscribe", None, {"portal": "every portal"}, "every portal")
        messages.success(request, "You get the alerts of every portal." if wanted else "Every-portal alerts stopped.")
    return redirect("dashboard:account")


@login_required
@require_POST
def portal_subscribe(request: HttpRequest, pk: int) -> HttpResponse:
    portal = get_portal(pk)
    wanted = request.POST.get("subscribed") == "1"
    if wanted and not request.user.email:
        messages.error(request, NO_EMAIL)
        return redirect("dashboard:account")
    if _set_subscription(request.user, portal, wanted):
        audit(request, "subscribe" if wanted else "unsubscribe", portal, {"portal": portal.name})
    if wanted:
        messages.success(request, f"The alerts of {portal.name} are emailed to {request.user.email}.")
    else:
        messages.success(request, f"You no longer get the alerts of {portal.name} by email.")
    return redirect_back(request, reverse("dashboard:portal-detail", args=[portal.pk]))


def _set_subscription(user, portal: Portal | None, wanted: bool) -> bool:
    """Subscribes or unsubscribes; True when that changed something (a repeated click changes nothing)."""
    if wanted:
        # get_or_create survives a double click: the unique constraints turn the race into a get.
        return Subscription.objects.get_or_create(user=user, portal=portal)[1]
    return Subscription.objects.filter(user=user, portal=portal).delete()[0] > 0
