"""Two-factor login: a TOTP authenticator app (django-otp), with backup codes for a lost phone.

Optional for every account, set up on the Account page; with BOTWATCH_REQUIRE_2FA=1 required
for admins (the admin role, or Django admin access). After the password, a user with a
confirmed device is signed in but not verified: TwoFactorMiddleware sends every request to the
code page until a code is given. Whether a user has a device is remembered in the session, so
the pages of users without one run no extra query.
"""

import base64

import segno
from django.conf import settings
from django.db import transaction
from django.http import HttpRequest
from django_otp import login as otp_login
from django_otp import verify_token
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from dashboard.roles import Role, role_of

SESSION_KEY = "botwatch_2fa"
BACKUP_CODES = 10
APP_DEVICE = "authenticator app"
BACKUP_DEVICE = "backup codes"


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


def check_code(user, token: str) -> TOTPDevice | StaticDevice | None:
    """The device that accepts this code: six digits are the app's, letters a backup code (used up)."""
    token = "".join(token.split()).lower()
    model = TOTPDevice if token.isdigit() else StaticDevice
    for device in model.objects.filter(user=user, confirmed=True):
        # verify_token locks the device row and counts failures (django-otp's throttling).
        if verify_token(user, device.persistent_id, token):
            return device
    return None


def verify(request: HttpRequest, token: str) -> bool:
    device = check_code(request.user, token)
    if device is None:
        return False
    otp_login(request, device)
    return True


def remove(user) -> int:
    """Removes the user's authenticator and backup codes; how many devices went."""
    with transaction.atomic():
        removed = TOTPDevice.objects.filter(user=user).delete()[1].get(TOTPDevice._meta.label, 0)
        removed += StaticDevice.objects.filter(user=user).delete()[1].get(StaticDevice._meta.label, 0)
    return removed
