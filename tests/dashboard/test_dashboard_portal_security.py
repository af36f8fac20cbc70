"""The portal form against real portals: addresses it refuses, a "Test connection" bounded in time
that says no more than the status, and stored credentials that stay with their host."""

import socket
import time

import pytest
from django.urls import reverse

from checks.models import AuditLog, Portal
from dashboard.views import manage
from dashboard.views import portals as portals_views
from simulator.server import Simulator
from tests.dashboard.test_dashboard_manage import portal_post
from tests.fixtures.dashboard import make_portal

pytestmark = pytest.mark.django_db

TIMEOUT = 1.0


@pytest.fixture
def admin_client(client, dashboard_admin):
    client.force_login(dashboard_admin)
    return client


@pytest.fixture
def acme(simulator, settings):
    settings.BITRIX24_TIMEOUT = TIMEOUT
    settings.BITRIX24_RETRIES = 0
    simulator.add_portal("acme", webhook_user_id=1, webhook_code="k3y")
    simulator.add_bot("acme", code="support_bot", bot_token="tok-1")
    return simulator


def post_test(client, data, htmx: bool):
    headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    started = time.monotonic()
    response = client.post(reverse("dashboard:portal-create"), data, **headers)
    return response, time.monotonic() - started


@pytest.mark.parametrize("htmx", [True, False])
def test_test_connection_to_a_trickling_portal_ends_within_the_timeout(admin_client, acme, htmx):
    acme.inject_fault("acme", "trickle", interval_s=0.3, sleep_s=30)
    response, seconds = post_test(admin_client, portal_post(acme.portal_url("acme"), action="test"), htmx)
    assert response.status_code == 200 and seconds < TIMEOUT + 1.5
    body = response.content.decode()
    assert 'data-test-result="support_bot" data-status="unreachable"' in body


def test_bots_left_when_the_test_runs_out_of_time_are_shown_as_not_tested(admin_client, acme, monkeypatch):
    real = manage.Deadline
    monkeypatch.setattr(manage, "Deadline", lambda seconds: real(0))
    response, _ = post_test(admin_client, portal_post(acme.portal_url("acme"), action="test"), True)
    body = response.content.decode()
    assert 'data-test-result="support_bot" data-status="not-tested"' in body
    assert acme.stats("acme")["requests"] == 0


def test_an_address_with_a_port_out_of_range_is_a_field_error(admin_client, acme):
    url = acme.portal_url("acme").replace(str(acme._server.server_port), "99999")
    response = admin_client.post(reverse("dashboard:portal-create"), portal_post(url, action="save"))
    assert "Port 99999 is out of range (1-65535)." in response.content.decode()
    assert not Portal.objects.exists()


def refused_portal() -> Portal:
    portal = make_portal("acme", n_bots=1, url="https://acme.bitrix24.com")
    Portal.objects.filter(pk=portal.pk).update(redirected_to="https://acme.example.org", redirect_refused=True)
    return portal


def test_a_refused_redirect_is_shown_with_a_button_that_accepts_the_new_address(client, dashboard_admin, monkeypatch):
    client.force_login(dashboard_admin)
    queued = []
    monkeypatch.setattr(portals_views, "check_now", lambda pk: queued.append(pk) or True)
    portal = refused_portal()
    page = client.get(reverse("dashboard:portal-detail", args=[portal.pk])).content.decode()
    assert "did not send the credentials" in page and "acme.example.org" in page
    accept = reverse("dashboard:portal-accept-redirect", args=[portal.pk])
    assert f'action="{accept}"' in page
    response = client.post(accept, {"address": "https://acme.example.org"})
    assert response.status_code == 302
    portal.refresh_from_db()
    assert (portal.url, portal.redirected_to, portal.redirect_refused) == ("https://acme.example.org", "", False)
    entry = AuditLog.objects.get(action="accept new address")
    assert entry.actor == "ada" and entry.changes["url"] == ["https://acme.bitrix24.com", "https://acme.example.org"]
    assert entry.changes["credentials sent to"] == "acme.example.org"
    assert queued == [portal.pk]  # checked at once on the new address


def test_accepting_an_address_the_portal_no_longer_points_to_is_refused(client, dashboard_admin):
    client.force_login(dashboard_admin)
    portal = refused_portal()
    response = client.post(
        reverse("dashboard:portal-accept-redirect", args=[portal.pk]), {"address": "https://evil.example.net"}
    )
    assert response.status_code == 400
    assert Portal.objects.get(pk=portal.pk).url == "https://acme.bitrix24.com"


@pytest.mark.parametrize("role", ["viewer", "operator"])
def test_only_an_admin_accepts_a_new_address(client, role, request):
    """Where the stored credentials go is an admin's decision, as every other credential is."""
    client.force_login(request.getfixturevalue(role))
    portal = refused_portal()
    page = client.get(reverse("dashboard:portal-detail", args=[portal.pk])).content.decode()
    assert "Accept new address" not in page
    response = client.post(
        reverse("dashboard:portal-accept-redirect", args=[portal.pk]), {"address": "https://acme.example.org"}
    )
    assert response.status_code == 403
    assert Portal.objects.get(pk=portal.pk).url == "https://acme.bitrix24.com"
    assert not AuditLog.objects.filter(action="accept new address").exists()


@pytest.fixture
def elsewhere():
    """A second Bitrix24 on another address (127.0.0.2) with a portal of the same name: where a
    changed URL would send the stored secrets."""
    other = Simulator(seed=7)
    other.start(host="127.0.0.2", port=0)
    other.add_portal("acme", webhook_user_id=1, webhook_code="k3y")
    other.add_bot("acme", code="support_bot", bot_token="tok-1")
    yield other
    other.stop()


def saved_portal(admin_client, sim) -> tuple[Portal, str]:
    admin_client.post(reverse("dashboard:portal-create"), portal_post(sim.portal_url("acme"), action="save"))
    portal = Portal.objects.get()
    return portal, reverse("dashboard:portal-edit", args=[portal.pk])


def moved(portal: Portal, url: str, **extra) -> dict:
    """The edit form with the address changed and every secret left empty ("keep")."""
    data = portal_post(url, code="", token="", **extra)
    data.update({"bots-INITIAL_FORMS": "1", "bots-0-id": str(portal.bots.get().pk)})
    return data


def new_host(sim) -> str:
    return f"127.0.0.2:{sim._server.server_port}"


@pytest.mark.parametrize("action", ["test", "save"])
def test_a_new_host_does_not_get_the_stored_secrets_unconfirmed(admin_client, acme, elsewhere, action):
    portal, edit_url = saved_portal(admin_client, acme)
    response = admin_client.post(edit_url, moved(portal, elsewhere.portal_url("acme"), action=action))
    body = response.content.decode()
    assert response.status_code == 200
    assert f"Send the stored credentials to {new_host(elsewhere)}" in body
    assert "Webhook code" in body and "bot token of support_bot" in body  # the fields to give again
    assert elsewhere.stats("acme")["requests"] == 0
    assert Portal.objects.get().url == acme.portal_url("acme")


def test_confirming_the_new_host_sends_them_there(admin_client, acme, elsewhere):
    portal, edit_url = saved_portal(admin_client, acme)
    data = moved(portal, elsewhere.portal_url("acme"), action="test", confirm_credentials_host=new_host(elsewhere))
    body = admin_client.post(edit_url, data).content.decode()
    assert 'data-test-result="support_bot" data-status="ok"' in body
    assert elsewhere.stats("acme")["methods"]["imbot.v2.bot.get"] == 1  # (and the fetch-mode bot's Event.get)
    entry = AuditLog.objects.get(action="test connection")
    assert entry.changes["host"] == new_host(elsewhere) and entry.changes["credentials sent to new host"] is True
    # Confirmed for that host only: another host still asks.
    data = moved(portal, "http://127.0.0.3:9/acme", action="save", confirm_credentials_host=new_host(elsewhere))
    assert "Send the stored credentials to 127.0.0.3:9" in admin_client.post(edit_url, data).content.decode()


def test_secrets_given_again_need_no_confirmation(admin_client, acme, elsewhere):
    portal, edit_url = saved_portal(admin_client, acme)
    data = moved(portal, elsewhere.portal_url("acme"), action="save")
    data.update({"webhook_code": "k3y", "bots-0-bot_token": "tok-1"})
    assert admin_client.post(edit_url, data).status_code == 302
    assert Portal.objects.get().url == elsewhere.portal_url("acme")


def test_every_test_connection_is_audited(admin_client, acme):
    portal, edit_url = saved_portal(admin_client, acme)
    admin_client.post(edit_url, moved(portal, acme.portal_url("acme"), action="test"), HTTP_HX_REQUEST="true")
    admin_client.post(reverse("dashboard:portal-create"), portal_post(acme.portal_url("acme"), name="", action="test"))
    entries = list(AuditLog.objects.filter(action="test connection").order_by("id"))
    assert len(entries) == 2
    assert entries[0].object_id == str(portal.pk) and entries[0].changes["statuses"] == {"support_bot": "ok"}
    assert entries[0].changes["credentials sent to new host"] is False
    assert entries[1].changes["statuses"] is None  # the form had errors: nothing was called
    assert "k3y" not in str([e.changes for e in entries]) and "tok-1" not in str([e.changes for e in entries])


def test_the_portal_file_upload_takes_the_same_confirmation(admin_client, dashboard_admin):
    make_portal("acme", n_bots=1, url="https://acme.bitrix24.com")
    moved_file = (
        "portals:\n  - name: acme\n    url: https://acme.example.org\n"
        "    webhook: {user_id: 1}\n    bots: [{code: bot_0}]\n"
    )
    url = reverse("dashboard:portal-file")
    body = admin_client.post(url, {"text": moved_file}).content.decode()
    assert "url moves acme from acme.bitrix24.com to acme.example.org" in body
    assert Portal.objects.get().url == "https://acme.bitrix24.com"
    response = admin_client.post(url, {"text": moved_file, "send_credentials_to": "acme.example.org"})
    assert response.status_code == 302
    assert Portal.objects.get().url == "https://acme.example.org"


def test_test_connection_shows_the_status_only_not_what_the_network_said(admin_client, acme):
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there now
    response, _ = post_test(admin_client, portal_post(f"http://127.0.0.1:{port}/acme", action="test"), True)
    body = response.content.decode()
    assert 'data-status="unreachable"' in body
    assert "refused" not in body and str(port) not in body


def test_a_private_address_is_refused_by_the_form_unless_allowed(admin_client, acme, settings):
    settings.BOTWATCH_ALLOW_PRIVATE_PORTALS = False
    for url in (acme.portal_url("acme"), "http://localhost/acme", "http://10.0.0.5/acme"):
        response = admin_client.post(reverse("dashboard:portal-create"), portal_post(url, action="test"))
        assert "BOTWATCH_ALLOW_PRIVATE_PORTALS=1" in response.content.decode(), url
    assert acme.stats("acme")["requests"] == 0
