"""Two-factor login: a TOTP authenticator app (django-otp), with backup codes for a lost phone.

Optional for every account, set up on the Account page; with BOTWATCH_REQUIRE_2FA=1 required
for admins (the admin role, or Django admin access). After the password, a user with a
confirmed device is signed in but not verified: TwoFactorMiddleware sends every request to the
code page until a code is given. Whether a user has a device is remembered in the session, so
the pages of users without one run no extra query.

Wrong codes are counted on the device by django-otp, but they wait by our rule, not
django-otp's: its lock of 1 s after the first wrong code refused the right code typed straight
after a typo. Here the first FREE_FAILURES wrong codes in a row cost nothing; each one after
waits 1, 2, 4, ... s (at most MAX_WAIT), and the page says how long. django-otp's own throttle
is off (OTP_*_THROTTLE_FACTOR = 0 in settings) so the two never count twice.
"""

import base64
from datetime import datetime, timedelta

import segno
from django.conf import settings
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django_otp import login as otp_login
from django_otp import verify_token
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from dashboard.roles import Role, role_of

SESSION_KEY = "botwatch_2fa"
BACKUP_CODES = 10
APP_DEVICE = "authenticator app"
BACKUP_DEVICE = "backup codes"
FREE_FAILURES = 3  # typos: a code mistyped twice or thrice never makes the right one wait
MAX_WAIT = timedelta(hours=1)


def wait_until(device, now: datetime) -> datetime | None:
    """When this device takes a code again after wrong ones, or None when it takes one now."""
    extra = device.throttling_failure_count - FREE_FAILURES
    if extra <= 0 or device.throttling_failure_timestamp is None:
        return None
    until = device.throttling_failure_timestamp + min(timedelta(seconds=2 ** (extra - 1)), MAX_WAIT)
    return until if until > now else None


def has_device(request: HttpRequest) -> bool:
    """Has the signed-in user a confirmed authenticator (remembered in the session)?"""
    user = request.user
    remembered = request.session.get(SESSION_KEY)
    if remembered and remembered[0] == user.pk:
        return remembered[1]
    found = TOTPDevice.objects.filter(user=user, confirmed=True).exists()
    remember(request, found)
    return found


def remember(request: HttpRequest, found: bool) -> None:
    request.session[SESSION_KEY] = [request.user.pk, found]


def is_admin(user) -> bool:
    return role_of(user) >= Role.ADMIN or user.is_staff


def needs_code(request: HttpRequest) -> bool:
    """Signed in with the password, but the code of the user's authenticator is still missing."""
    user = request.user
    return user.is_authenticated and not user.is_verified() and has_device(request)


def must_set_up(request: HttpRequest) -> bool:
    user = request.user
    return settings.BOTWATCH_REQUIRE_2FA and user.is_authenticated and is_admin(user) and not has_device(request)


def missing_required(user) -> bool:
    """Whether the user must have two-factor login (BOTWATCH_REQUIRE_2FA, an admin) and has none;
    for requests without a session, such as an API token's."""
    if not (settings.BOTWATCH_REQUIRE_2FA and is_admin(user)):
        return False
    return not TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def signed_in(request: HttpRequest) -> bool:
    """Signed in completely: the password, and the code when the user has two-factor."""
    return request.user.is_authenticated and not needs_code(request)


def pending_device(user) -> TOTPDevice | None:
    """The authenticator being set up (scanned, not yet confirmed with a code)."""
    return TOTPDevice.objects.filter(user=user, confirmed=False).first()


def start(user) -> TOTPDevice:
    """A new, unconfirmed authenticator key; any earlier unfinished one is dropped."""
    TOTPDevice.objects.filter(user=user, confirmed=False).delete()
    return TOTPDevice.objects.create(user=user, name=APP_DEVICE, confirmed=False)


def qr_data_uri(device: TOTPDevice) -> str:
    """The otpauth:// address as an SVG QR code in a data: URI (an <img>, allowed by the CSP)."""
    return segno.make(device.config_url, error="m").svg_data_uri(scale=5, border=4, dark="#111827")


def manual_key(device: TOTPDevice) -> str:
    """The key in base32, in groups of four, for apps that cannot scan."""
    secret = base64.b32encode(device.bin_key).decode().rstrip("=")
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def confirm(request: HttpRequest, device: TOTPDevice, token: str) -> list[str] | None:
    """Confirms the authenticator with a code from it; the new backup codes, or None when the code is wrong."""
    if not device.verify_token(token.strip()):
        return None
    with transaction.atomic():
        TOTPDevice.objects.filter(user=device.user, confirmed=True).exclude(pk=device.pk).delete()
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        codes = new_backup_codes(device.user)
    otp_login(request, device)  # this session has just shown the code
    remember(request, True)
    return codes


def new_backup_codes(user) -> list[str]:
    """Replaces the user's backup codes with fresh ones, each good for one login."""
    StaticDevice.objects.filter(user=user).delete()
    device = StaticDevice.objects.create(user=user, name=BACKUP_DEVICE, confirmed=True)
    codes = [StaticToken.random_token() for _ in range(BACKUP_CODES)]
    StaticToken.objects.bulk_create(StaticToken(device=device, token=c) for c in codes)
    return codes


class CodeRefused(Exception):
    """A wrong code, or one given while the device waits after wrong ones; the message says which."""


WRONG_CODE = gettext_lazy("That code is not valid (or it was used already). Try the current one.")


def check_code(user, token: str, now: datetime | None = None) -> TOTPDevice | StaticDevice:
    """The device that accepts this code: six digits are the app's, letters a backup code (used up).

    CodeRefused when none does, or while the device waits after too many wrong codes in a row.
    """
    now = now or timezone.now()
    token = "".join(token.split()).lower()
    model = TOTPDevice if token.isdigit() else StaticDevice
    for device in model.objects.filter(user=user, confirmed=True):
        if (until := wait_until(device, now)) is not None:
            seconds = int((until - now).total_seconds()) + 1
            raise CodeRefused(_("Too many wrong codes in a row: try again in %(seconds)s s.") % {"seconds": seconds})
        # verify_token locks the device row while it checks (a code is taken once), and counts a
        # wrong code on it (reset by a right one) even with django-otp's own lock off.
        if verify_token(user, device.persistent_id, token):
            return device
    raise CodeRefused(WRONG_CODE)


def verify(request: HttpRequest, token: str) -> str:
    """Signs the session in with the code; "" when it did, else what to tell the user."""
    try:
        device = check_code(request.user, token)
    except CodeRefused as exc:
        return str(exc)
    otp_login(request, device)
    return ""


def remove(user) -> int:
    """Removes the user's authenticator and backup codes; how many devices went."""
    with transaction.atomic():
        removed = TOTPDevice.objects.filter(user=user).delete()[1].get(TOTPDevice._meta.label, 0)
        removed += StaticDevice.objects.filter(user=user).delete()[1].get(StaticDevice._meta.label, 0)
    return removed
