"""Logging in and out. Out: POST logs out (CSRF-safe); GET asks first, or sends an anonymous
visitor to log in. A login locked out after too many failures gets the login page with a message."""

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from dashboard.lockout import locked_as_address


def logout(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        return auth_views.LogoutView.as_view()(request)
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    return render(request, "registration/logout_confirm.html")


def locked_out(request: HttpRequest, original_response=None, credentials: dict | None = None) -> HttpResponse:
    """django-axes' lockout answer (AXES_LOCKOUT_CALLABLE), for /login/ and /admin/login/ alike."""
    username = (credentials or {}).get("username") or request.POST.get("username", "")
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    ctx = {
        "form": AuthenticationForm(request, initial={"username": username}),
        "next": "/admin/" if request.path.startswith("/admin/") else request.POST.get("next", ""),
        "locked_out": {"username": username, "minutes": minutes, "address": locked_as_address(request, credentials)},
    }
    # 429 Too Many Requests: what django-axes answers by default, and what it is.
    return render(request, "registration/login.html", ctx, status=429)
