"""Two-factor pages: the code asked after the password, the set-up on the Account page, and an
admin's "Remove two-factor" for a user who lost the phone and the backup codes."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST
from django_otp.plugins.otp_totp.models import TOTPDevice

from dashboard import twofactor
from dashboard.roles import Role, require_role
from dashboard.views.common import audit


def _next(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or "/"
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return target
    return "/"


@login_required
def login_verify(request: HttpRequest) -> HttpResponse:
    """The second step of logging in: a code from the authenticator app, or a backup code."""
    has_device = TOTPDevice.objects.filter(user=request.user, confirmed=True).exists()
    twofactor.remember(request, has_device)  # an admin may have removed it since
    if not has_device or request.user.is_verified():
        return redirect(_next(request))
    error = None
    if request.method == "POST":
        error = twofactor.verify(request, request.POST.get("otp_token", ""))
        if not error:
            return redirect(_next(request))
    ctx = {"next": _next(request), "error": error}
    return render(request, "registration/login_verify.html", ctx, status=400 if error else 200)


@login_required
def two_factor(request: HttpRequest) -> HttpResponse:
    """Set up, renew backup codes, or turn off: each step proven with a current code."""
    user = request.user
    if request.method == "POST":
        action = request.POST.get("action")
        token = request.POST.get("otp_token", "")
        if action == "start":
            # Replacing a working authenticator takes turning it off first, which needs a code.
            if not twofactor.has_device(request):
                twofactor.start(user)
            return redirect("dashboard:account-two-factor")
        if action == "confirm":
            return _confirm(request, token)
        if action in ("disable", "new-codes"):
            return _with_code(request, action, token)
    return _page(request)


def _page(request: HttpRequest, status: int = 200, **extra) -> HttpResponse:
    user = request.user
    enabled = twofactor.has_device(request)
    pending = None if enabled else twofactor.pending_device(user)
    ctx = {
        "nav": "account",
        "enabled": enabled,
        "pending": pending,
        "qr": twofactor.qr_data_uri(pending) if pending else None,
        "manual_key": twofactor.manual_key(pending) if pending else None,
        "required": settings.BOTWATCH_REQUIRE_2FA and twofactor.is_admin(user),
        **extra,
    }
    return render(request, "dashboard/two_factor.html", ctx, status=status)


def _confirm(request: HttpRequest, token: str) -> HttpResponse:
    device = twofactor.pending_device(request.user)
    if device is None:
        return redirect("dashboard:account-two-factor")
    codes = twofactor.confirm(request, device, token)
    if codes is None:
        return _page(request, status=400, error=twofactor.WRONG_CODE)
    audit(request, "set up two-factor", request.user)
    # Shown once, in this answer only: they are not kept anywhere but as tokens to match.
    return _page(request, backup_codes=codes)


def _with_code(request: HttpRequest, action: str, token: str) -> HttpResponse:
    try:
        twofactor.check_code(request.user, token)
    except twofactor.CodeRefused as exc:
        return _page(request, status=400, error=str(exc))
    if action == "new-codes":
        audit(request, "new two-factor backup codes", request.user)
        return _page(request, backup_codes=twofactor.new_backup_codes(request.user))
    if settings.BOTWATCH_REQUIRE_2FA and twofactor.is_admin(request.user):
        return _page(request, status=400, error=_("Two-factor is required for admins here: it cannot be turned off."))
    twofactor.remove(request.user)
    twofactor.remember(request, False)
    audit(request, "turn off two-factor", request.user)
    messages.success(request, _("Two-factor login is off: your password alone logs you in."))
    return redirect("dashboard:account")


@login_required
@require_POST
def user_remove_two_factor(request: HttpRequest, pk: int) -> HttpResponse:
    """An admin removes a user's two-factor (a lost phone): the password alone logs them in until set up again."""
    require_role(request, Role.ADMIN)
    user = get_object_or_404(get_user_model(), pk=pk)
    removed = twofactor.remove(user)
    audit(request, "remove two-factor", user, {"devices removed": removed})
    messages.success(request, _("Two-factor login of %(user)s removed.") % {"user": user.get_username()})
    return redirect("dashboard:user-list")
