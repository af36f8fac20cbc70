"""Who may reach which page once signed in, and which answers speak one language whatever the viewer's.

TwoFactorMiddleware: a user with two-factor goes to the code page until the code is given, and
with BOTWATCH_REQUIRE_2FA=1 an admin without two-factor goes to its set-up page; the Django
admin included. RequireRoleMiddleware: accounts with no role ("No access" on the users page)
see nothing but their own account.
"""

from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse, HttpResponseRedirect
from django.urls import resolve, reverse
from django.utils import translation
from django.utils.translation import gettext_lazy as _

from dashboard import twofactor
from dashboard.roles import Role, role_of

# URL names a signed-in user without a role may still reach: leave, or change their own password.
OPEN_TO_NO_ROLE = {
    "login",
    "logout",
    "password_change",
    "password_change_done",
    "healthz",
    "login-verify",
    "account-two-factor",
    "set_language",
}
# Reachable before the two-factor code is given: the code page itself, and ways out.
OPEN_BEFORE_CODE = {"login", "logout", "login-verify", "healthz", "set_language"}
# Reachable by an admin who must set up two-factor first.
OPEN_BEFORE_SET_UP = OPEN_BEFORE_CODE | {"account-two-factor"}
REQUIRED = _("BotWatch requires two-factor login for admins: set it up to go on.")


def _go(request, url: str) -> HttpResponse:
    if request.headers.get("HX-Request"):
        # An htmx fragment request: have the browser go there rather than swap the page into a fragment.
        return HttpResponse(headers={"HX-Redirect": url})
    return HttpResponseRedirect(url)


class TwoFactorMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        if not request.user.is_authenticated:
            return None
        name = request.resolver_match.url_name if request.resolver_match else None
        if twofactor.needs_code(request):
            if name in OPEN_BEFORE_CODE:
                return None
            return _go(request, reverse("login-verify") + "?" + urlencode({"next": request.get_full_path()}, safe="/"))
        if twofactor.must_set_up(request) and name not in OPEN_BEFORE_SET_UP:
            messages.warning(request, REQUIRED)
            return _go(request, reverse("dashboard:account-two-factor"))
        return None


class RequireRoleMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        user = request.user
        if not user.is_authenticated or role_of(user) != Role.NONE:
            return None
        match = resolve(request.path_info)
        # The Django admin checks is_staff and permissions itself.
        if match.url_name in OPEN_TO_NO_ROLE or match.app_name == "admin":
            return None
        raise PermissionDenied(_("Your account has no role yet: ask a BotWatch admin to give you one."))


# Machine answers: scripts, Grafana and Prometheus read them, whatever a browser's Accept-Language says.
ENGLISH_ONLY = ("/api/", "/metrics")


class EnglishForMachinesMiddleware:
    """After LocaleMiddleware: the API (its errors, DRF's included) and /metrics answer in English."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not request.path_info.startswith(ENGLISH_ONLY):
            return self.get_response(request)
        with translation.override("en"):
            request.LANGUAGE_CODE = "en"
            response = self.get_response(request)
        response.headers["Content-Language"] = "en"  # LocaleMiddleware only sets it when missing
        return response
