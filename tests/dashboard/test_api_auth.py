"""API authentication and roles on every endpoint: no token 401, a read token on a write 403."""

import pytest
from django.contrib.auth import get_user_model

from checks.models import ApiToken, AuditLog, Bot, Portal
from dashboard.roles import Role, set_role
from tests.fixtures.api import call, entry, issue
from tests.fixtures.dashboard import make_portal, open_incident

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_cache")]

# Nothing answers there (port 9, discard): "uninstalled" verifies the portal, and no test reaches outside.
NOWHERE = "http://127.0.0.1:9/acme"

READS = [
    "/api/v1/portals",
    "/api/v1/portals/acme",
    "/api/v1/portals/acme/bots",
    "/api/v1/portals/acme/bots/bot_0",
    "/api/v1/portals/acme/bots/bot_0/verifications",
    "/api/v1/bots",
    "/api/v1/incidents",
    "/api/v1/incidents/{incident}",
    "/api/v1/schema",
    "/metrics",
]
WRITES = [
    ("post", "/api/v1/portals", entry(name="other", url=NOWHERE)),
    ("put", "/api/v1/portals/acme", entry(url=NOWHERE)),
    ("patch", "/api/v1/portals/acme", {"interval": 600}),
    ("delete", "/api/v1/portals/acme", None),
    ("post", "/api/v1/portals/acme/check", None),
    ("post", "/api/v1/portals/acme/uninstalled", None),
    ("post", "/api/v1/portals/acme/bots", {"code": "new_bot", "bot_token": "t"}),
    ("patch", "/api/v1/portals/acme/bots/bot_0", {"enabled": False}),
    ("delete", "/api/v1/portals/acme/bots/bot_0", None),
    ("post", "/api/v1/incidents/{incident}/acknowledge", {"note": "on it"}),
]


@pytest.fixture
def incident() -> int:
    portal = make_portal("acme", n_bots=2, url=NOWHERE)
    return open_incident(portal.bots.get(code="bot_1")).pk


def state() -> tuple:
    return (
        list(Portal.objects.values_list("name", "interval")),
        list(Bot.objects.values_list("code", "enabled")),
        AuditLog.objects.count(),
    )


@pytest.mark.parametrize("path", READS)
def test_every_read_without_a_token_is_401_with_a_bearer_challenge(client, incident, path):
    response = call(client, "get", path.format(incident=incident))
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="BotWatch"'


@pytest.mark.parametrize(("method", "path", "body"), WRITES)
def test_every_write_without_a_token_is_401_and_changes_nothing(client, incident, method, path, body):
    before = state()
    response = call(client, method, path.format(incident=incident), None, body)
    assert response.status_code == 401
    assert state() == before


@pytest.mark.parametrize("path", READS)
def test_a_read_token_reads_every_endpoint(client, incident, read_token, path):
    response = call(client, "get", path.format(incident=incident), read_token)
    assert response.status_code == 200, response.content[:500]


@pytest.mark.parametrize(("method", "path", "body"), WRITES)
def test_a_read_token_on_every_write_is_403_and_changes_nothing(client, incident, read_token, method, path, body):
    before = state()
    response = call(client, method, path.format(incident=incident), read_token, body)
    assert response.status_code == 403
    assert response.json() == {"detail": "This needs a write token; this token may only read."}
    assert state() == before


@pytest.mark.parametrize(("method", "path", "body"), WRITES)
def test_a_write_token_passes_on_every_write(client, incident, write_token, method, path, body):
    response = call(client, method, path.format(incident=incident), write_token, body)
    assert response.status_code not in (401, 403), response.content[:500]
    assert response.status_code < 500


@pytest.mark.parametrize(
    ("header", "detail"),
    [
        ("Bearer bw_not-a-token", "Unknown or revoked API token."),
        ("Token abc", 'Authorization must be "Bearer TOKEN"'),
        ("Bearer ", 'Authorization must be "Bearer TOKEN"'),
    ],
)
def test_a_bad_authorization_header_is_401(client, header, detail):
    response = client.get("/api/v1/bots", headers={"Authorization": header})
    assert response.status_code == 401
    assert response.json() == {"detail": detail}


def test_a_revoked_token_stops_working(client, read_token):
    assert call(client, "get", "/api/v1/bots", read_token).status_code == 200
    ApiToken.objects.all().delete()
    assert call(client, "get", "/api/v1/bots", read_token).status_code == 401


def test_using_a_token_notes_when_it_was_last_used(client, read_token):
    assert ApiToken.objects.get().last_used_at is None
    call(client, "get", "/api/v1/bots", read_token)
    assert ApiToken.objects.get().last_used_at is not None


def make_account(role: Role):
    user = get_user_model().objects.create_user("tokenowner", "owner@example.com", "x-pass-9876")
    set_role(user, role)
    return user


def test_a_write_token_only_reads_once_its_creator_is_no_longer_an_admin(client):
    user = make_account(Role.ADMIN)
    token = issue("write", user=user)
    assert call(client, "patch", "/api/v1/portals/acme", token, {}).status_code == 404  # may write (no such portal)
    set_role(user, Role.OPERATOR)
    assert call(client, "get", "/api/v1/bots", token).status_code == 200
    assert call(client, "patch", "/api/v1/portals/acme", token, {}).status_code == 403


@pytest.mark.parametrize("lose_access", ["no role", "deactivated"])
def test_a_token_stops_when_its_creator_loses_access(client, lose_access):
    user = make_account(Role.VIEWER)
    token = issue("read", user=user)
    assert call(client, "get", "/api/v1/bots", token).status_code == 200
    if lose_access == "no role":
        set_role(user, Role.NONE)
    else:
        user.is_active = False
        user.save()
    response = call(client, "get", "/api/v1/bots", token)
    assert response.status_code == 401
    assert "no access to BotWatch any more" in response.json()["detail"]


def test_requests_are_throttled_per_token(client, settings):
    settings.BOTWATCH_API_RATE = "3/minute"
    first, second = issue("read", "first"), issue("read", "second")
    codes = [call(client, "get", "/api/v1/bots", first).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    throttled = call(client, "get", "/api/v1/bots", first)
    assert throttled.status_code == 429 and int(throttled["Retry-After"]) > 0
    assert call(client, "get", "/api/v1/bots", second).status_code == 200  # another token has its own budget


@pytest.mark.parametrize("role", ["read", "write"])
def test_with_2fa_required_an_admins_token_works_only_while_the_admin_has_it(client, settings, role):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    user = make_account(Role.ADMIN)
    token = issue(role, user=user)  # made before two-factor was required
    settings.BOTWATCH_REQUIRE_2FA = True
    response = call(client, "get", "/api/v1/bots", token)
    assert response.status_code == 401
    assert "must use two-factor login (BOTWATCH_REQUIRE_2FA)" in response.json()["detail"]

    TOTPDevice.objects.create(user=user, name="authenticator app", confirmed=True)
    assert call(client, "get", "/api/v1/bots", token).status_code == 200


def test_with_2fa_required_a_viewers_token_needs_none(client, settings):
    token = issue("read", user=make_account(Role.VIEWER))
    settings.BOTWATCH_REQUIRE_2FA = True
    assert call(client, "get", "/api/v1/bots", token).status_code == 200
