"""Two-factor login (TOTP, django-otp): set up on the Account page with a QR code, a code asked
after the password, backup codes that work once, BOTWATCH_REQUIRE_2FA=1 for admins, and ways
for an admin to remove it."""

import base64
import re
import time
from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from checks.models import AuditLog
from dashboard.roles import Role
from tests.fixtures.dashboard import PASSWORD, make_user

pytestmark = pytest.mark.django_db

SETUP = "/account/two-factor/"
VERIFY = "/login/verify/"


def totp_devices(user):
    # Imported here: the module loads before django-otp is set up.
    from django_otp.plugins.otp_totp.models import TOTPDevice

    return TOTPDevice.objects.filter(user=user)


def code(device, steps_ahead: int = 0) -> str:
    """The device's code for now (or a later 30 s step: a code is accepted once)."""
    from django_otp.oath import TOTP

    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time() + steps_ahead * device.step
    return f"{totp.token():0{device.digits}d}"


def log_in(client, username: str) -> None:
    response = client.post("/login/", {"username": username, "password": PASSWORD})
    assert response.status_code == 302, response.content.decode()[:500]


def set_up(client, username: str) -> tuple[object, list[str]]:
    """Through the Account page, as the user would: start, scan, confirm. Returns the device and backup codes."""
    client.post(SETUP, {"action": "start"})
    user = get_user_model().objects.get(username=username)
    device = totp_devices(user).get()
    response = client.post(SETUP, {"action": "confirm", "otp_token": code(device)})
    assert response.status_code == 200, response.content.decode()[:500]
    codes = re.findall(r'<li class="backup-code"><code>([a-z2-7]+)</code></li>', response.content.decode())
    device.refresh_from_db()
    return device, codes


@pytest.fixture
def vera(db):
    return make_user("vera", Role.VIEWER)


def test_set_up_shows_a_qr_code_and_confirms_with_a_code(client, vera):
    client.force_login(vera)
    account = client.get(reverse("dashboard:account")).content.decode()
    assert "Two-factor login" in account and SETUP in account

    client.post(SETUP, {"action": "start"})
    page = client.get(SETUP).content.decode()
    device = totp_devices(vera).get()
    assert not device.confirmed
    assert 'src="data:image/svg+xml' in page  # the QR code, drawn without any inline script or style
    # The key for typing in by hand, in groups of four.
    secret = base64.b32encode(device.bin_key).decode().rstrip("=")
    assert " ".join(secret[i : i + 4] for i in range(0, len(secret), 4)) in page

    response = client.post(SETUP, {"action": "confirm", "otp_token": code(device)})

    device.refresh_from_db()
    assert device.confirmed
    codes = re.findall(r'<li class="backup-code"><code>([a-z2-7]+)</code></li>', response.content.decode())
    assert len(codes) == 10
    assert AuditLog.objects.filter(action="set up two-factor", object_repr="vera").exists()


def test_a_wrong_code_does_not_confirm(client, vera):
    client.force_login(vera)
    client.post(SETUP, {"action": "start"})
    response = client.post(SETUP, {"action": "confirm", "otp_token": "000000"})
    assert response.status_code == 400
    assert "not valid" in response.content.decode()
    assert not totp_devices(vera).get().confirmed


def test_with_two_factor_the_password_alone_is_not_enough(client, vera):
    client.force_login(vera)
    device, _ = set_up(client, "vera")
    client.logout()

    log_in(client, "vera")
    response = client.get(reverse("dashboard:overview"))
    assert response.status_code == 302 and response["Location"] == f"{VERIFY}?next=/"
    assert client.get("/healthz").json().keys() == {"status"}  # not signed in yet for the details

    response = client.post(f"{VERIFY}?next=/", {"otp_token": code(device, steps_ahead=1)})

    assert response.status_code == 302 and response["Location"] == "/"
    assert client.get(reverse("dashboard:overview")).status_code == 200


def test_the_admin_site_asks_for_the_code_too(client):
    ada = make_user("ada", Role.ADMIN)
    ada.is_staff = True
    ada.save()
    client.force_login(ada)
    device, _ = set_up(client, "ada")
    client.logout()

    log_in(client, "ada")
    response = client.get("/admin/")
    assert response.status_code == 302 and response["Location"].startswith(VERIFY)
    client.post(VERIFY, {"otp_token": code(device, steps_ahead=1)})
    assert client.get("/admin/").status_code == 200


def test_a_backup_code_works_once(client, vera):
    client.force_login(vera)
    _, codes = set_up(client, "vera")
    client.logout()

    log_in(client, "vera")
    assert client.post(VERIFY, {"otp_token": codes[0]}).status_code == 302
    assert client.get(reverse("dashboard:overview")).status_code == 200
    client.logout()

    log_in(client, "vera")
    response = client.post(VERIFY, {"otp_token": codes[0]})
    assert response.status_code == 400 and "not valid" in response.content.decode()
    assert client.get(reverse("dashboard:overview")).status_code == 302


def test_required_for_admins_sends_an_admin_without_it_to_set_up(client, settings, vera):
    settings.BOTWATCH_REQUIRE_2FA = True
    ada = make_user("ada", Role.ADMIN)
    client.force_login(ada)
    response = client.get(reverse("dashboard:portal-list"))
    assert response.status_code == 302 and response["Location"] == SETUP
    assert "required for admins" in client.get(SETUP).content.decode()
    assert client.get("/admin/").status_code == 302

    set_up(client, "ada")
    assert client.get(reverse("dashboard:portal-list")).status_code == 200

    client.force_login(vera)  # a viewer needs none
    assert client.get(reverse("dashboard:portal-list")).status_code == 200


def test_required_for_admins_an_admin_cannot_turn_it_off(client, settings):
    settings.BOTWATCH_REQUIRE_2FA = True
    ada = make_user("ada", Role.ADMIN)
    client.force_login(ada)
    device, _ = set_up(client, "ada")
    response = client.post(SETUP, {"action": "disable", "otp_token": code(device, steps_ahead=1)})
    assert response.status_code == 400
    assert totp_devices(ada).filter(confirmed=True).exists()


def test_a_user_turns_it_off_with_a_current_code(client, vera):
    client.force_login(vera)
    device, _ = set_up(client, "vera")
    response = client.post(SETUP, {"action": "disable", "otp_token": code(device, steps_ahead=1)})
    assert response.status_code == 302
    assert not totp_devices(vera).exists()
    assert AuditLog.objects.filter(action="turn off two-factor", object_repr="vera", object_type="user").exists()


def test_an_admin_removes_it_from_the_users_page(client, vera):
    client.force_login(vera)
    set_up(client, "vera")
    ada = make_user("ada", Role.ADMIN)
    client.force_login(ada)
    assert "Remove two-factor" in client.get(reverse("dashboard:user-list")).content.decode()

    response = client.post(reverse("dashboard:user-remove-two-factor", args=[vera.pk]))

    assert response.status_code == 302
    assert not totp_devices(vera).exists()
    assert AuditLog.objects.filter(action="remove two-factor", object_repr="vera").exists()


def test_disable_2fa_command_removes_the_devices(client, vera):
    client.force_login(vera)
    set_up(client, "vera")
    out = StringIO()
    call_command("disable_2fa", "vera", stdout=out)
    assert not totp_devices(vera).exists()
    assert "vera" in out.getvalue()


def test_a_working_authenticator_is_not_replaced_without_a_code(client, vera):
    client.force_login(vera)
    device, _ = set_up(client, "vera")
    client.post(SETUP, {"action": "start"})
    assert list(totp_devices(vera)) == [device]


def test_the_right_code_straight_after_a_wrong_one_is_accepted(client, vera):
    client.force_login(vera)
    device, _ = set_up(client, "vera")
    client.logout()
    log_in(client, "vera")
    assert client.post(f"{VERIFY}?next=/", {"otp_token": "000000"}).status_code == 400
    response = client.post(f"{VERIFY}?next=/", {"otp_token": code(device, steps_ahead=1)})
    assert response.status_code == 302 and response["Location"] == "/"
    device.refresh_from_db()
    assert device.throttling_failure_count == 0


def test_many_wrong_codes_in_a_row_make_the_next_try_wait(client, vera):
    from dashboard.twofactor import FREE_FAILURES

    client.force_login(vera)
    device, _ = set_up(client, "vera")
    client.logout()
    log_in(client, "vera")
    for _ in range(FREE_FAILURES + 1):
        html = client.post(VERIFY, {"otp_token": "000000"}).content.decode()
        assert "not valid" in html
    device.refresh_from_db()
    assert device.throttling_failure_count == FREE_FAILURES + 1
    # Four more, the last just now: the next try waits 2**4 s.
    type(device).objects.filter(pk=device.pk).update(
        throttling_failure_count=FREE_FAILURES + 5, throttling_failure_timestamp=timezone.now()
    )
    refused = client.post(VERIFY, {"otp_token": code(device, steps_ahead=1)})
    assert (
        refused.status_code == 400 and "Too many wrong codes in a row: try again in 16 s." in refused.content.decode()
    )
    device.refresh_from_db()
    assert device.throttling_failure_count == FREE_FAILURES + 5  # a try while waiting is not counted

    # The wait is over: as if the last wrong code was typed a minute ago.
    type(device).objects.filter(pk=device.pk).update(
        throttling_failure_timestamp=device.throttling_failure_timestamp - timedelta(minutes=1)
    )
    assert client.post(VERIFY, {"otp_token": code(device, steps_ahead=1)}).status_code == 302
