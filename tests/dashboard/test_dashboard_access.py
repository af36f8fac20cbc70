"""Who may do what: anonymous visitors log in first, viewers read, operators act, admins manage."""

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from checks.models import AuditLog, Bot, Incident, Portal
from dashboard.roles import Role, role_of

pytestmark = pytest.mark.django_db

# /healthz is for an outside monitor and names nothing (dashboard/health.py); set_language only
# sets the language cookie, so the login page can be read in Russian too.
PUBLIC = {"login", "healthz", "set_language"}
# Machine endpoints take a bearer token (dashboard/api/): no token is a 401 with a challenge, not a redirect.
TOKEN_ONLY = ("/api/v1/", "/metrics")
# The customer's status page and badges: no login, the link's token is the key (docs/customer-status.md).
LINK_ONLY = {"status-page", "status-badge", "status-bot-badge"}
API_DOCS = "/api/v1/docs"  # for people: a login, like every page


def all_urls(resolver=None, prefix="") -> list[tuple[str, str]]:
    """(name, path) of every URL pattern of the site, int parameters filled with 1."""
    resolver = resolver or get_resolver()
    found = []
    for pattern in resolver.url_patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            if "admin" in route:
                found.append(("admin", "/admin/"))
                continue
            found.extend(all_urls(pattern, route))
        elif isinstance(pattern, URLPattern):
            filled = route.replace("<int:pk>", "1").replace("<str:name>", "acme").replace("<str:bot>", "bot_0")
            path = "/" + filled.lstrip("^").rstrip("$")
            found.append((pattern.name or route, path))
    return found


def test_the_crawl_finds_every_dashboard_page():
    names = {name for name, _ in all_urls()}
    assert {"overview", "bot-detail", "portal-edit", "incident-ack", "password_change", "user-role"} <= names


@pytest.mark.parametrize("method", ["get", "post"])
def test_anonymous_visitor_is_sent_to_log_in_everywhere(client, method):
    for name, path in all_urls():
        if name in PUBLIC:
            continue
        response = getattr(client, method)(path)
        if name in LINK_ONLY:  # a token that is no link's: nothing at all (GET 404; POST not allowed)
            assert response.status_code == (404 if method == "get" else 405), (name, path, response.status_code)
            continue
        if path.startswith(TOKEN_ONLY) and path != API_DOCS:
            assert response.status_code == 401, (name, path, response.status_code)
            assert response["WWW-Authenticate"].startswith("Bearer"), (name, path)
            continue
        assert response.status_code == 302, (name, path, response.status_code)
        assert "/login/" in response["Location"], (name, path, response["Location"])
        if name != "logout":  # logging out ends on the login page itself
            assert "?next=" in response["Location"], (name, path, response["Location"])


def test_roles_come_from_groups(viewer, operator, dashboard_admin, django_user_model):
    assert [role_of(u) for u in (viewer, operator, dashboard_admin)] == [Role.VIEWER, Role.OPERATOR, Role.ADMIN]
    nobody = django_user_model.objects.create_user("nobody", password="x-long-password-1")
    assert role_of(nobody) == Role.NONE


def test_account_without_a_role_sees_nothing_but_its_own_account(client, django_user_model, portal_with_history):
    nobody = django_user_model.objects.create_user("nobody", password="x-long-password-1")
    client.force_login(nobody)
    reachable = {"login", "logout", "password_change", "password_change_done", "healthz", "admin"}
    reachable |= {"login-verify", "account-two-factor"}  # two-factor login is any account's own business
    reachable |= {"set_language"}  # the language of the pages it may see
    for name, path in all_urls():
        if name in reachable:
            continue
        response = client.get(path)
        assert response.status_code == 403, (name, path, response.status_code)
    assert "Your account has no role yet" in client.get("/").content.decode()
    assert client.get(reverse("password_change")).status_code == 200
    assert client.post(reverse("logout")).status_code == 302


def test_viewer_cannot_reach_edit_pages_or_actions(client, viewer, portal_with_history):
    client.force_login(viewer)
    portal = portal_with_history
    bot = portal.bots.first()
    incident = Incident.objects.get()
    forbidden_get = [
        reverse("dashboard:portal-create"),
        reverse("dashboard:portal-edit", args=[portal.pk]),
        reverse("dashboard:portal-delete", args=[portal.pk]),
        reverse("dashboard:bot-delete", args=[bot.pk]),
        reverse("dashboard:portal-file"),
        reverse("dashboard:portal-file-download"),
        reverse("dashboard:audit-log"),
        reverse("dashboard:user-list"),
    ]
    for url in forbidden_get:
        assert client.get(url).status_code == 403, url
    forbidden_post = [
        (reverse("dashboard:incident-ack", args=[incident.pk]), {"note": "x"}),
        (reverse("dashboard:portal-pause", args=[portal.pk]), {"paused": "1"}),
        (reverse("dashboard:portal-check-now", args=[portal.pk]), {}),
        (reverse("dashboard:portal-mute", args=[portal.pk]), {"duration": "1h"}),
        (reverse("dashboard:bot-mute", args=[bot.pk]), {"duration": "1h"}),
        (reverse("dashboard:portal-delete", args=[portal.pk]), {}),
    ]
    for url, data in forbidden_post:
        assert client.post(url, data).status_code == 403, url
    portal.refresh_from_db()
    incident.refresh_from_db()
    assert not portal.paused and portal.muted_until is None and incident.acknowledged_at is None
    assert Portal.objects.filter(pk=portal.pk).exists()
    # ...and the pages they can read show no buttons for those actions.
    body = client.get(reverse("dashboard:portal-detail", args=[portal.pk])).content.decode()
    assert "Check now" not in body and reverse("dashboard:portal-edit", args=[portal.pk]) not in body


def test_operator_acknowledges_with_a_note(client, operator, portal_with_history):
    client.force_login(operator)
    incident = Incident.objects.get()
    response = client.post(reverse("dashboard:incident-ack", args=[incident.pk]), {"note": "calling the customer"})
    assert response.status_code == 302
    incident.refresh_from_db()
    assert incident.acknowledged_by == operator and incident.ack_note == "calling the customer"
    assert incident.events.filter(kind="acknowledged", note="calling the customer").exists()
    assert AuditLog.objects.filter(action="acknowledge", actor="otto", object_repr__contains="bot_1 on acme").exists()
    body = client.get(reverse("dashboard:alerts"), {"state": "acknowledged"}).content.decode()
    assert "calling the customer" in body


def test_operator_mutes_pauses_and_plans_maintenance(client, operator, portal_with_history):
    client.force_login(operator)
    portal = portal_with_history
    bot = portal.bots.order_by("code").last()
    client.post(reverse("dashboard:portal-mute", args=[portal.pk]), {"duration": "4h"})
    client.post(reverse("dashboard:bot-mute", args=[bot.pk]), {"duration": "1h"})
    client.post(reverse("dashboard:portal-pause", args=[portal.pk]), {"paused": "1"})
    response = client.post(
        reverse("dashboard:maintenance-create", args=[portal.pk]),
        {"starts_at": "2030-01-01T10:00", "ends_at": "2030-01-01T12:00", "note": "upgrade", "tz_offset": "-60"},
    )
    assert response.status_code == 302
    portal.refresh_from_db()
    bot.refresh_from_db()
    assert portal.paused and portal.muted_until > timezone.now() and bot.muted_until > timezone.now()
    window = portal.maintenance_windows.get()
    # 10:00 in UTC+1 (getTimezoneOffset -60) is 09:00 UTC.
    assert window.starts_at.isoformat() == "2030-01-01T09:00:00+00:00" and window.note == "upgrade"
    assert set(AuditLog.objects.values_list("action", flat=True)) >= {"mute", "pause", "maintenance window"}


def test_maintenance_form_offers_the_portals_bots(client, operator, portal_with_history):
    client.force_login(operator)
    page = client.get(reverse("dashboard:portal-detail", args=[portal_with_history.pk])).content.decode()
    for bot in portal_with_history.bots.all():
        assert f'<option value="{bot.pk}">{bot.label}</option>' in page, bot.label


def test_maintenance_window_must_end_after_it_starts(client, operator, portal_with_history):
    client.force_login(operator)
    response = client.post(
        reverse("dashboard:maintenance-create", args=[portal_with_history.pk]),
        {"starts_at": "2030-01-01T10:00", "ends_at": "2030-01-01T09:00"},
        follow=True,
    )
    assert "must end after it starts" in response.content.decode()
    assert not portal_with_history.maintenance_windows.exists()


def test_operator_cannot_manage(client, operator, portal_with_history):
    client.force_login(operator)
    assert client.get(reverse("dashboard:portal-edit", args=[portal_with_history.pk])).status_code == 403
    assert client.get(reverse("dashboard:user-list")).status_code == 403


def test_admin_changes_a_role_but_not_their_own(client, dashboard_admin, viewer):
    client.force_login(dashboard_admin)
    client.post(reverse("dashboard:user-role", args=[viewer.pk]), {"role": "operator"})
    viewer.refresh_from_db()
    assert role_of(viewer) == Role.OPERATOR
    client.post(reverse("dashboard:user-role", args=[dashboard_admin.pk]), {"role": "viewer"})
    dashboard_admin.refresh_from_db()
    dashboard_admin._botwatch_role = None
    assert role_of(dashboard_admin) == Role.ADMIN


def test_admin_deletes_a_bot_after_confirmation(client, dashboard_admin, portal_with_history):
    client.force_login(dashboard_admin)
    bot = portal_with_history.bots.first()
    assert "Yes, delete" in client.get(reverse("dashboard:bot-delete", args=[bot.pk])).content.decode()
    client.post(reverse("dashboard:bot-delete", args=[bot.pk]))
    assert not Bot.objects.filter(pk=bot.pk).exists()
    assert AuditLog.objects.filter(action="delete bot").exists()
