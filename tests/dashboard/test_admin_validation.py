"""The Django admin's portal and bot forms refuse what the dashboard and the importer refuse:
plain http (unless BOTWATCH_ALLOW_HTTP), a port out of range, a bad email, a bot code with
control characters; the dashboard and the importer refuse the last two as well."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from checks.models import Bot, Portal
from tests.dashboard.test_admin import _portal_post

pytestmark = pytest.mark.django_db


@pytest.fixture
def portal(db):
    portal = Portal.objects.create(name="acme", url="https://acme.bitrix24.com", webhook_user_id=1, webhook_code="c")
    Bot.objects.create(portal=portal, code="support_bot", bot_token="t")
    return portal


def admin_post(admin_client, portal, **overrides):
    url = reverse("admin:checks_portal_change", args=[portal.pk])
    return admin_client.post(url, _portal_post(portal, **overrides))


@pytest.mark.urls("tests.urls_admin")
@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"url": "http://acme.bitrix24.com"}, "Bitrix24 requires HTTPS"),
        ({"url": "https://acme.bitrix24.com:99999"}, "Port 99999 is out of range"),
        ({"url": "https://user:pass@acme.bitrix24.com"}, "user name or password"),
        ({"alert_emails": '["nope"]'}, "&#x27;nope&#x27; is not an email address"),
        ({"alert_emails": '"oncall@example.com"'}, "a list of email addresses"),
    ],
)
def test_admin_portal_form_refuses_what_the_dashboard_refuses(admin_client, portal, settings, overrides, message):
    settings.BOTWATCH_ALLOW_HTTP = False
    response = admin_post(admin_client, portal, **overrides)
    assert response.status_code == 200
    assert message in response.content.decode()
    portal.refresh_from_db()
    assert (portal.url, portal.alert_emails) == ("https://acme.bitrix24.com", [])


@pytest.mark.urls("tests.urls_admin")
def test_admin_accepts_http_when_allowed_and_good_emails(admin_client, portal, settings):
    settings.BOTWATCH_ALLOW_HTTP = True
    response = admin_post(
        admin_client, portal, url="http://acme.local:8080/", alert_emails='["a@example.com"]',
        send_credentials_to="acme.local:8080",
    )  # fmt: skip
    assert response.status_code == 302
    portal.refresh_from_db()
    assert (portal.url, portal.alert_emails) == ("http://acme.local:8080", ["a@example.com"])


@pytest.mark.urls("tests.urls_admin")
def test_admin_bot_form_refuses_a_code_with_a_line_break(admin_client, portal):
    bot = portal.bots.get()
    url = reverse("admin:checks_bot_change", args=[bot.pk])
    data = {"portal": portal.pk, "code": "x\r\nBcc: evil@example.com", "enabled": "on"}
    response = admin_client.post(url, data)
    assert response.status_code == 200
    assert "control characters" in response.content.decode()
    bot.refresh_from_db()
    assert bot.code == "support_bot"


def test_dashboard_refuses_a_port_out_of_range_and_a_bot_code_with_a_line_break(client, dashboard_admin):
    client.force_login(dashboard_admin)
    data = {
        "name": "acme",
        "url": "https://acme.bitrix24.com:99999",
        "auth_type": "webhook",
        "webhook_user_id": "1",
        "webhook_code": "k3y",
        "pace_rate": "1",
        "pace_burst": "5",
        "bots-TOTAL_FORMS": "1",
        "bots-INITIAL_FORMS": "0",
        "bots-0-code": "x\nBcc: evil@example.com",
        "bots-0-bot_token": "t",
        "bots-0-enabled": "on",
    }
    body = client.post(reverse("dashboard:portal-create"), data).content.decode()
    assert "Port 99999 is out of range" in body
    assert "control characters" in body
    assert not Portal.objects.exists()


def test_importer_refuses_a_port_out_of_range_and_a_bot_code_with_a_line_break(tmp_path):
    path = tmp_path / "portals.yaml"
    path.write_text(
        "portals:\n  - name: acme\n    url: https://acme.bitrix24.com:99999\n    webhook: {user_id: 1, code: k}\n"
        '    bots: [{code: "x\\r\\nBcc: evil@example.com", bot_token: t}]\n'
    )
    err = StringIO()
    with pytest.raises(CommandError):
        call_command("import_portals", str(path), stderr=err)
    assert "Port 99999 is out of range" in err.getvalue()
    assert "portals[0].bots[0]: Code must not hold control characters" in err.getvalue()


@pytest.mark.urls("tests.urls_admin")
@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"interval": "10"}, "interval must be a whole number of seconds, at least 30"),
        ({"url": "https://10.0.0.5/acme"}, "BOTWATCH_ALLOW_PRIVATE_PORTALS=1"),
        ({"auth_type": "oauth", "oauth_client_id": "local.1"}, "Required for OAuth portals without a token broker."),
    ],
)
def test_admin_portal_form_takes_the_rules_of_the_portal_file(admin_client, portal, settings, overrides, message):
    """One set of rules (checks.portal_file.schema): the admin refuses what the file and the dashboard refuse."""
    settings.BOTWATCH_ALLOW_PRIVATE_PORTALS = False
    response = admin_post(admin_client, portal, **overrides)
    assert response.status_code == 200
    assert message in response.content.decode()
    portal.refresh_from_db()
    assert (portal.url, portal.interval, portal.auth_type) == ("https://acme.bitrix24.com", None, "webhook")
