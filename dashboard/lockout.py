"""The login lockout beyond django-axes' pairs: one address trying passwords across many users.

django-axes locks a (user, address) pair after BOTWATCH_LOGIN_FAILURES wrong passwords; someone
spraying a few passwords over every user would never reach that. So an address with
BOTWATCH_LOGIN_FAILURES_PER_ADDRESS wrong passwords over all users within BOTWATCH_LOCKOUT_MINUTES
is locked out as a whole (until the time passes or `manage.py axes_reset_ip ADDRESS`).
"""

from axes.attempts import get_cool_off_threshold
from axes.handlers.database import AxesDatabaseHandler
from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import Sum
from django.http import HttpRequest


class AddressLimitHandler(AxesDatabaseHandler):
    """AXES_HANDLER: django-axes' database handler, and the per-address limit across users."""

    def is_locked(self, request: HttpRequest, credentials: dict | None = None) -> bool:
        return super().is_locked(request, credentials) or address_locked(request)

    def user_login_failed(self, sender, credentials: dict, request: HttpRequest | None = None, **kwargs) -> None:
        # django-axes marks the request locked out (for its middleware's answer) by the pair's count
        # alone, also when the pair was refused for the address's sake.
        super().user_login_failed(sender, credentials, request, **kwargs)
        if request is not None and not getattr(request, "axes_locked_out", False) and address_locked(request):
            request.axes_locked_out = True
            request.axes_credentials = credentials


def locked_as_address(request: HttpRequest, credentials: dict | None) -> bool:
    """Whether a lockout is the address's as a whole, not the pair's (for the message)."""
    return not AxesDatabaseHandler().is_locked(request, credentials) and address_locked(request)


def address_locked(request: HttpRequest) -> bool:
    """Whether the request's address (as django-axes determined it) is over the limit across users."""
    address = getattr(request, "axes_ip_address", None)
    if not address:
        return False
    recent = AccessAttempt.objects.filter(ip_address=address, attempt_time__gte=get_cool_off_threshold(request))
    failures = recent.aggregate(total=Sum("failures_since_start"))["total"] or 0
    return failures >= settings.BOTWATCH_LOGIN_FAILURES_PER_ADDRESS
