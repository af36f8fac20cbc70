"""Brute force on /login/ and /admin/login/: after BOTWATCH_LOGIN_FAILURES wrong passwords for one
user from one address, that pair is locked out with a clear message (even the right password is
refused); other users and other addresses are not; an admin or a command unlocks it."""

from io import StringIO
from ipaddress import ip_network

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.urls import reverse

from checks.models import AuditLog
from dashboard.roles import Role
from tests.fixtures.dashboard import PASSWORD, make_user

pytestmark = pytest.mark.django_db

ATTACKER = "203.0.113.7"


def failed_attempts(username: str):
    """django-axes' rows for this user (imported here so that the module loads without axes)."""
    from axes.models import AccessAttempt

    return AccessAttempt.objects.filter(username=username)


def attempt(client, path: str, username: str, password: str, address: str = ATTACKER, forwarded: str | None = None):
    headers = {"HTTP_X_FORWARDED_FOR": forwarded} if forwarded is not None else {}
    return client.post(path, {"username": username, "password": password}, REMOTE_ADDR=address, **headers)


def signed_in_as(client) -> str | None:
    user = client.get(reverse("dashboard:account")).wsgi_request.user
    return user.username if user.is_authenticated else None


def brute_force(client, path: str, username: str, tries: int = 30) -> None:
    for _ in range(tries):
        attempt(client, path, username, "wrong-password")


@pytest.mark.parametrize("path", ["/login/", "/admin/login/"])
def test_thirty_wrong_passwords_then_the_right_one_is_refused(client, path):
    user = make_user("vera", Role.ADMIN)
    user.is_staff = True
    user.save()
    brute_force(client, path, "vera")

    response = attempt(client, path, "vera", PASSWORD)

    assert response.status_code == 429
    body = response.content.decode()
    assert "Too many failed logins for vera from your address" in body
    assert "Try again in 15 minutes" in body and "ask a BotWatch admin" in body
    assert 'name="password"' in body  # the login page itself, with the message
    assert signed_in_as(client) is None


def test_another_user_from_the_same_address_still_logs_in(client):
    make_user("vera", Role.VIEWER)
    make_user("otto", Role.VIEWER)
    brute_force(client, "/login/", "vera", tries=6)

    response = attempt(client, "/login/", "otto", PASSWORD)

    assert response.status_code == 302
    assert signed_in_as(client) == "otto"


def test_the_same_user_from_another_address_still_logs_in(client):
    make_user("vera", Role.VIEWER)
    brute_force(client, "/login/", "vera", tries=6)

    response = attempt(client, "/login/", "vera", PASSWORD, address="198.51.100.20")

    assert response.status_code == 302
    assert signed_in_as(client) == "vera"


def test_a_few_mistakes_then_the_right_password_works_and_clear_the_count(client):
    make_user("vera", Role.VIEWER)
    brute_force(client, "/login/", "vera", tries=4)
    assert attempt(client, "/login/", "vera", PASSWORD).status_code == 302
    assert not failed_attempts("vera").exists()


def test_an_admin_unlocks_from_the_users_page(client):
    make_user("vera", Role.VIEWER)
    admin = make_user("ada", Role.ADMIN)
    brute_force(client, "/login/", "vera", tries=6)
    client.force_login(admin)
    page = client.get(reverse("dashboard:user-list")).content.decode()
    assert "locked out" in page and "Unlock" in page

    vera = get_user_model().objects.get(username="vera")
    response = client.post(reverse("dashboard:user-unlock", args=[vera.pk]))

    assert response.status_code == 302
    assert AuditLog.objects.filter(action="unlock login", object_repr="vera").exists()
    client.logout()
    assert attempt(client, "/login/", "vera", PASSWORD).status_code == 302


def test_a_viewer_cannot_unlock(client):
    vera = make_user("vera", Role.VIEWER)
    client.force_login(vera)
    assert client.post(reverse("dashboard:user-unlock", args=[vera.pk])).status_code == 403


@pytest.mark.parametrize("command", [("axes_reset_username", "vera"), ("axes_reset",)])
def test_a_command_unlocks(client, command):
    make_user("vera", Role.VIEWER)
    brute_force(client, "/login/", "vera", tries=6)
    assert attempt(client, "/login/", "vera", PASSWORD).status_code == 429

    call_command(*command, stdout=StringIO())

    assert attempt(client, "/login/", "vera", PASSWORD).status_code == 302


def test_behind_trusted_proxies_the_client_address_counts(client, settings):
    settings.BOTWATCH_TRUSTED_PROXIES = [ip_network("10.0.0.1")]
    make_user("vera", Role.VIEWER)
    for _ in range(6):
        attempt(client, "/login/", "vera", "wrong", address="10.0.0.1", forwarded=ATTACKER)
    # The same proxy, another client: not locked out.
    response = attempt(client, "/login/", "vera", PASSWORD, address="10.0.0.1", forwarded="198.51.100.20")
    assert response.status_code == 302
    assert failed_attempts("vera").get().ip_address == ATTACKER


def test_a_rotating_forwarded_for_from_outside_the_proxies_is_not_believed(client, settings):
    # The web port published beside the proxy: a client sends its own X-Forwarded-For.
    settings.BOTWATCH_TRUSTED_PROXIES = [ip_network("10.0.0.0/24")]
    make_user("vera", Role.VIEWER)
    for n in range(12):
        attempt(client, "/login/", "vera", "wrong", forwarded=f"198.51.100.{n}")
    response = attempt(client, "/login/", "vera", PASSWORD, forwarded="198.51.100.99")
    assert response.status_code == 429 and signed_in_as(client) is None
    assert failed_attempts("vera").get().ip_address == ATTACKER


def test_through_the_proxy_a_forged_entry_before_the_client_is_not_believed(client, settings):
    settings.BOTWATCH_TRUSTED_PROXIES = [ip_network("10.0.0.0/24")]
    make_user("vera", Role.VIEWER)
    for n in range(6):
        forwarded = f"198.51.100.{n}, {ATTACKER}, 10.0.0.2"  # forged, the client, an inner proxy
        attempt(client, "/login/", "vera", "wrong", address="10.0.0.1", forwarded=forwarded)
    assert failed_attempts("vera").get().ip_address == ATTACKER


def test_one_address_spraying_passwords_over_many_users_is_locked_out(client, settings):
    settings.BOTWATCH_LOGIN_FAILURES_PER_ADDRESS = 8
    for name in ("ann", "bob", "cid", "dee", "vera"):
        make_user(name, Role.VIEWER)
    for name in ("ann", "bob", "cid", "dee"):  # 2 each: no pair comes near BOTWATCH_LOGIN_FAILURES
        for _ in range(2):
            attempt(client, "/login/", name, "wrong-password")

    response = attempt(client, "/login/", "vera", PASSWORD)

    assert response.status_code == 429 and signed_in_as(client) is None
    assert "Too many failed logins from your address" in response.content.decode()
    assert attempt(client, "/login/", "vera", PASSWORD, address="198.51.100.20").status_code == 302
