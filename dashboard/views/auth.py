"""Logging out: POST logs out (CSRF-safe); GET asks first, or sends an anonymous visitor to log in."""

from django.contrib.auth import views as auth_views
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def logout(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        return auth_views.LogoutView.as_view()(request)
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    return render(request, "registration/logout_confirm.html")
