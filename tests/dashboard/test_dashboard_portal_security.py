"""The portal form against real portals: addresses it refuses, a "Test connection" bounded in time
that says no more than the status, and stored credentials that stay with their host."""

import time

import pytest
from django.urls import reverse

from checks.models import AuditLog, Portal
from dashboard.views import manage
from dashboard.views import portals as portals_views
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
    assert "port is not a number from 1 to 65535" in response.content.decode()
    assert not Portal.objects.exists()


def refused_portal() -> Portal:
    portal = make_portal("acme", n_bots=1, url="https://acme.bitrix24.com")
    Portal.objects.filter(pk=portal.pk).update(redirected_to="https://acme.example.org", redirect_refused=True)
    return portal


def test_a_refused_redirect_is_shown_with_a_button_that_accepts_the_new_address(client, operator, monkeypatch):
    client.force_login(operator)
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
    assert entry.actor == "otto" and entry.changes["url"] == ["https://acme.bitrix24.com", "https://acme.example.org"]
    assert entry.changes["credentials sent to"] == "acme.example.org"
    assert queued == [portal.pk]  # checked at once on the new address


def test_accepting_an_address_the_portal_no_longer_points_to_is_refused(client, operator):
    client.force_login(operator)
    portal = refused_portal()
    response = client.post(
        reverse("dashboard:portal-accept-redirect", args=[portal.pk]), {"address": "https://evil.example.net"}
    )
    assert response.status_code == 400
    assert Portal.objects.get(pk=portal.pk).url == "https://acme.bitrix24.com"


def test_a_viewer_cannot_accept_a_new_address(client, viewer):
    client.force_login(viewer)
    portal = refused_portal()
    response = client.post(
        reverse("dashboard:portal-accept-redirect", args=[portal.pk]), {"address": "https://acme.example.org"}
    )
    assert response.status_code == 403
    assert Portal.objects.get(pk=portal.pk).url == "https://acme.bitrix24.com"
