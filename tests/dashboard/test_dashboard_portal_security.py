"""The portal form against real portals: addresses it refuses, a "Test connection" bounded in time
that says no more than the status, and stored credentials that stay with their host."""

import time

import pytest
from django.urls import reverse

from checks.models import Portal
from dashboard.views import manage
from tests.dashboard.test_dashboard_manage import portal_post

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
