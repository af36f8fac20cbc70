"""The user's own account: email address, alert subscriptions and API tokens. Any role, about themselves only.

API tokens: anyone with a role creates read tokens, admins write tokens too; a new token is shown
once, in the answer to the form, and only its hash is kept. Each user sees and revokes their own
tokens; admins see and revoke every token (a leaked one must be stoppable).
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from checks.models import ApiToken, Portal, Subscription
from dashboard import twofactor
from dashboard.account_forms import AccountEmailForm, ApiTokenForm
from dashboard.roles import Role, has_role
from dashboard.views.common import audit, get_portal, redirect_back

NO_EMAIL = gettext_lazy("Alert emails need an email address: add yours, then subscribe.")


@login_required
def account(request: HttpRequest) -> HttpResponse:
    return _account_page(request, AccountEmailForm(instance=request.user))


def _account_page(
    request: HttpRequest, form: AccountEmailForm, status: int = 200, token_form=None, new_token=None
) -> HttpResponse:
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
        "tokens": _visible_tokens(request.user),
        "token_form": token_form or ApiTokenForm(may_write=_may_write(request.user)),
        "new_token": new_token,
    }
    return render(request, "dashboard/account.html", ctx, status=status)


def _may_write(user) -> bool:
    return has_role(user, Role.ADMIN)


def _visible_tokens(user) -> list[ApiToken]:
    rows = ApiToken.objects.select_related("created_by").order_by("-created_at", "-pk")
    return list(rows if _may_write(user) else rows.filter(created_by=user))


@never_cache
@login_required
@require_POST
def token_create(request: HttpRequest) -> HttpResponse:
    """The one answer that shows the token: rendered here, never stored in a message or a session."""
    form = ApiTokenForm(request.POST, may_write=_may_write(request.user))
    email_form = AccountEmailForm(instance=request.user)
    if not form.is_valid():
        return _account_page(request, email_form, status=400, token_form=form)
    token, value = ApiToken.issue(form.cleaned_data["name"], form.cleaned_data["role"], created_by=request.user)
    audit(request, "create api token", token, {"role": token.role})
    return _account_page(request, email_form, status=201, new_token={"row": token, "value": value})


@login_required
@require_POST
def token_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    rows = ApiToken.objects.all() if _may_write(request.user) else ApiToken.objects.filter(created_by=request.user)
    token = get_object_or_404(rows, pk=pk)
    audit(request, "revoke api token", token, {"role": token.role})
    token.delete()
    messages.success(
        request, _("Token %(name)s (%(hint)s…) revoked: it no longer works.") % {"name": token.name, "hint": token.hint}
    )
    return redirect(reverse("dashboard:account") + "#api-tokens")


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
        _("Alerts you subscribe to now go to %(email)s.") % {"email": email}
        if email
        else _("Email address removed: no alert emails reach you.")
    )


@login_required
@require_POST
def subscribe_every_portal(request: HttpRequest) -> HttpResponse:
    wanted = request.POST.get("subscribed") == "1"
    if wanted and not request.user.email:
        messages.error(request, NO_EMAIL)
    elif _set_subscription(request.user, None, wanted):
        audit(request, "subscribe" if wanted else "unsubscribe", None, {"portal": "every portal"}, "every portal")
        messages.success(
            request, _("You get the alerts of every portal.") if wanted else _("Every-portal alerts stopped.")
        )
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
        messages.success(
            request,
            _("The alerts of %(name)s are emailed to %(email)s.") % {"name": portal.name, "email": request.user.email},
        )
    else:
        messages.success(request, _("You no longer get the alerts of %(name)s by email.") % {"name": portal.name})
    return redirect_back(request, reverse("dashboard:portal-detail", args=[portal.pk]))


def _set_subscription(user, portal: Portal | None, wanted: bool) -> bool:
    """Subscribes or unsubscribes; True when that changed something (a repeated click changes nothing)."""
    if wanted:
        # get_or_create survives a double click: the unique constraints turn the race into a get.
        return Subscription.objects.get_or_create(user=user, portal=portal)[1]
    return Subscription.objects.filter(user=user, portal=portal).delete()[0] > 0
