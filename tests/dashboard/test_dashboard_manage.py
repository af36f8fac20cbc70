"""Management: portals and bots through the form (with test connection), the portal file, the audit log."""

import re

import pytest
from django.urls import reverse

from checks.models import AuditLog, Bot, Portal

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, dashboard_admin):
    client.force_login(dashboard_admin)
    return client


def portal_post(url: str, *, code: str = "k3y", token: str = "tok-1", bot_code: str = "support_bot", **extra):  # noqa: S107
    data = {
        "name": "acme",
        "url": url,
        "auth_type": "webhook",
        "webhook_user_id": "1",
        "webhook_code": code,
        "alert_emails": "oncall@example.com, second@example.com",
        "interval": "300",
        "pace_rate": "1.0",
        "pace_burst": "5",
        "bots-TOTAL_FORMS": "2",
        "bots-INITIAL_FORMS": "0",
        "bots-MIN_NUM_FORMS": "0",
        "bots-MAX_NUM_FORMS": "1000",
        "bots-0-code": bot_code,
        "bots-0-bot_token": token,
        "bots-0-enabled": "on",
        "bots-1-code": "",
        "bots-1-bot_token": "",
    }
    data.update(extra)
    return data


def test_test_connection_runs_bot_get_and_saves_nothing(admin_client, simulator):
    simulator.add_portal("acme", webhook_user_id=1, webhook_code="k3y")
    simulator.add_bot("acme", code="support_bot", bot_token="tok-1", counters={"countMessage": 150})
    data = portal_post(simulator.portal_url("acme"), action="test")
    response = admin_client.post(reverse("dashboard:portal-create"), data)
    body = response.content.decode()
    assert response.status_code == 200
    assert "every bot answered ok" in body, body[body.find("test-results") :][:1500]
    assert re.search(r"1[5-9]\d messages", body)
    assert not Portal.objects.exists()
    assert "k3y" not in body and "tok-1" not in body  # typed secrets are not echoed back


def test_test_connection_shows_a_missing_bot(admin_client, simulator):
    simulator.add_portal("acme", webhook_user_id=1, webhook_code="k3y")
    response = admin_client.post(
        reverse("dashboard:portal-create"), portal_post(simulator.portal_url("acme"), action="test")
    )
    body = response.content.decode()
    assert "some bots failed" in body and "BOT_NOT_FOUND" in body and "Bot not found" in body


def test_save_creates_portal_bots_and_audit_entry_without_secrets(admin_client, simulator):
    url = simulator.portal_url("acme")
    response = admin_client.post(reverse("dashboard:portal-create"), portal_post(url, action="save"))
    portal = Portal.objects.get(name="acme")
    assert response.status_code == 302 and response["Location"] == reverse("dashboard:portal-detail", args=[portal.pk])
    assert portal.webhook_code == "k3y" and portal.alert_emails == ["oncall@example.com", "second@example.com"]
    bot = Bot.objects.get(portal=portal)
    assert bot.code == "support_bot" and bot.bot_token == "tok-1"
    entry = AuditLog.objects.get(action="add portal")
    assert entry.actor == "ada" and entry.changes["webhook_code"] == "changed"
    assert "k3y" not in str(entry.changes) and "tok-1" not in str(entry.changes)


def test_edit_keeps_secrets_left_empty_and_never_renders_them(admin_client, simulator):
    url = simulator.portal_url("acme")
    admin_client.post(reverse("dashboard:portal-create"), portal_post(url, action="save"))
    portal = Portal.objects.get()
    bot = portal.bots.get()
    edit_url = reverse("dashboard:portal-edit", args=[portal.pk])
    page = admin_client.get(edit_url).content.decode()
    assert "k3y" not in page and "tok-1" not in page and "leave empty to keep" in page
    data = portal_post(url, code="", token="", action="save", interval="600")
    data.update({"bots-INITIAL_FORMS": "1", "bots-0-id": str(bot.pk)})
    response = admin_client.post(edit_url, data)
    assert response.status_code == 302, response.content.decode()[:2000]
    portal.refresh_from_db()
    bot.refresh_from_db()
    assert portal.webhook_code == "k3y" and bot.bot_token == "tok-1" and portal.interval == 600
    assert AuditLog.objects.get(action="edit portal").changes["interval"] == [300, 600]


def test_form_errors_name_the_problem(admin_client, settings):
    settings.BOTWATCH_ALLOW_HTTP = False
    data = portal_post("http://acme.example.com", code="", token="", action="save", alert_emails="not-an-email")
    body = admin_client.post(reverse("dashboard:portal-create"), data).content.decode()
    assert "Bitrix24 requires HTTPS" in body
    assert "is not an email address" in body
    assert "Required for webhook portals." in body
    assert not Portal.objects.exists()


def test_portal_file_upload_reports_every_problem_and_changes_nothing(admin_client):
    text = (
        "portals:\n  - name: acme\n    url: https://acme.example.com\n    webhook: {user_id: 1, code: k}\n"
        "    bots:\n      - code: b\n"
    )
    body = admin_client.post(reverse("dashboard:portal-file"), {"text": text}).content.decode()
    assert "Nothing was imported" in body
    assert "portals[0].bots[0]: bot_token is required for webhook portals" in body
    assert not Portal.objects.exists()


def test_portal_file_upload_and_download(admin_client):
    text = (
        "portals:\n  - name: acme\n    url: https://acme.example.com\n    webhook: {user_id: 1, code: k3y}\n"
        "    bots:\n      - code: support_bot\n        bot_token: tok-1\n"
    )
    response = admin_client.post(reverse("dashboard:portal-file"), {"text": text})
    assert response.status_code == 302
    assert Bot.objects.get().portal.name == "acme"
    download = admin_client.get(reverse("dashboard:portal-file-download"))
    content = download.content.decode()
    assert "support_bot" in content and "tok-1" not in content and "k3y" not in content
    assert download["Content-Disposition"].startswith("attachment;")
    assert AuditLog.objects.filter(actor="ada", action="import").exists()


def test_delete_portal_after_confirmation(admin_client, portal_with_history):
    url = reverse("dashboard:portal-delete", args=[portal_with_history.pk])
    assert "cannot be undone" in admin_client.get(url).content.decode()
    assert admin_client.post(url).status_code == 302
    assert not Portal.objects.exists()
    assert AuditLog.objects.filter(action="delete portal", object_repr="acme").exists()
    body = admin_client.get(reverse("dashboard:audit-log")).content.decode()
    assert "delete portal" in body and "ada" in body


def test_htmx_test_connection_returns_only_the_outcome(admin_client, simulator):
    simulator.add_portal("acme", webhook_user_id=1, webhook_code="k3y")
    simulator.add_bot("acme", code="support_bot", bot_token="tok-1")
    data = portal_post(simulator.portal_url("acme"), action="test")
    body = admin_client.post(reverse("dashboard:portal-create"), data, headers={"HX-Request": "true"}).content.decode()
    assert body.startswith("<section") and 'data-status="ok"' in body and "<form" not in body
    data = portal_post(simulator.portal_url("acme"), action="test", name="")
    body = admin_client.post(reverse("dashboard:portal-create"), data, headers={"HX-Request": "true"}).content.decode()
    assert "fix the form first" in body and "Name: This field is required." in body


def test_oauth_portal_test_connection_and_save(admin_client, simulator, settings):
    settings.BITRIX24_OAUTH_URL = simulator.oauth_url
    simulator.add_portal("initech", webhook_user_id=None, webhook_code=None)
    tokens = simulator.add_oauth_app("initech", "local.botwatch", "client-s3cret")
    simulator.add_bot("initech", code="oauth_bot", app_client_id="local.botwatch")
    data = portal_post(
        simulator.portal_url("initech"),
        action="test",
        name="initech",
        auth_type="oauth",
        webhook_user_id="",
        webhook_code="",
        oauth_client_id="local.botwatch",
        oauth_client_secret="client-s3cret",
        oauth_access_token=tokens["access_token"],
        oauth_refresh_token=tokens["refresh_token"],
        token="",
    )
    data["bots-0-code"] = "oauth_bot"
    body = admin_client.post(reverse("dashboard:portal-create"), data).content.decode()
    assert "every bot answered ok" in body, body[body.find("test-results") :][:1500]
    assert tokens["access_token"] not in body and "client-s3cret" not in body
    data["action"] = "save"
    assert admin_client.post(reverse("dashboard:portal-create"), data).status_code == 302
    portal = Portal.objects.get(name="initech")
    assert portal.auth_type == "oauth" and portal.oauth_client_secret == "client-s3cret"
    assert portal.bots.get().bot_token == ""  # ignored under OAuth
