"""Accounts with no role ("No access" on the users page) see nothing but their own account."""

from django.core.exceptions import PermissionDenied
from django.urls import resolve

from dashboard.roles import Role, role_of

# URL names a signed-in user without a role may still reach: leave, or change their own password.
OPEN_TO_NO_ROLE = {"login", "logout", "password_change", "password_change_done", "healthz"}


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
        raise PermissionDenied("Your account has no role yet: ask a BotWatch admin to give you one.")
