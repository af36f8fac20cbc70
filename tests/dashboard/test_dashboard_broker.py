"""The portal form with a token broker: test connection asks the broker, the secret is write-only."""

import pytest
from django.urls import reverse

from checks.models import Portal
from tests.bitrix24.brokers import BROKER_SECRET
from tests.dashboard.test_dashboard_manage import admin_client, portal_post  # noqa: F401 - fixture

pytestmark = pytest.mark.django_db


def brokered_post(simulator, **extra) -> dict:
    simulator.add_portal("acme", webhook_code=None)
    simulator.add_oauth_app("acme", "local.app", "app-secret")
    simulator.add_bot("acme", code="support_bot", app_client_id="local.app")
    broker_url = simulator.add_broker("acme", "local.app", BROKER_SECRET)["broker_url"]
    data = portal_post(
        simulator.portal_url("acme"),
        auth_type="oauth",
        oauth_client_id="local.app",
        oauth_broker_url=broker_url,
        oauth_broker_secret=BROKER_SECRET,
    )
    del data["bots-0-bot_token"]
    data.update(extra)
    return data


def test_test_connection_of_a_brokered_portal_asks_the_broker_and_saves_nothing(admin_client, simulator):  # noqa: F811
    response = admin_client.post(reverse("dashboard:portal-create"), brokered_post(simulator, action="test"))
    body = response.content.decode()
    assert "every bot answered ok" in body, body[body.find("test-results") :][:1500]
    assert not Portal.objects.exists()
    assert BROKER_SECRET not in body
    assert simulator.stats("acme")["broker_calls"] == 1


def test_a_brokered_portal_is_saved_without_a_refresh_token_and_the_secret_never_shown(admin_client, simulator):  # noqa: F811
    response = admin_client.post(reverse("dashboard:portal-create"), brokered_post(simulator, action="save"))
    assert response.status_code == 302, response.content.decode()[:3000]
    portal = Portal.objects.get(name="acme")
    assert portal.uses_broker and portal.oauth_broker_secret == BROKER_SECRET
    assert portal.oauth_refresh_token == ""
    for page in (
        reverse("dashboard:portal-edit", args=[portal.pk]),
        reverse("dashboard:portal-detail", args=[portal.pk]),
    ):
        body = admin_client.get(page).content.decode()
        assert BROKER_SECRET not in body
        assert portal.oauth_broker_url in body
    detail = admin_client.get(reverse("dashboard:portal-detail", args=[portal.pk])).content.decode()
    assert "BotWatch never refreshes" in detail


def test_a_broker_needs_its_secret_and_refuses_a_refresh_token(admin_client, simulator):  # noqa: F811
    data = brokered_post(simulator, action="save", oauth_broker_secret="", oauth_refresh_token="rt")
    body = admin_client.post(reverse("dashboard:portal-create"), data).content.decode()
    assert "Required with a token broker." in body
    assert "Leave empty with a token broker" in body
    assert not Portal.objects.exists()
