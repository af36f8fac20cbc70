"""The Django admin: every model reachable, secrets never rendered, "leave empty to keep"."""

import pytest
from django.apps import apps
from django.contrib import admin
from django.urls import reverse

from checks.alerts.channel_urls import fingerprint
from checks.models import AuditLog, AuthType, Bot, Channel, Portal

pytestmark = pytest.mark.urls("tests.urls_admin")

SECRETS = ("webhook-code-s3cr3t", "bot-token-s3cr3t", "client-secret-s3cr3t", "access-s3cr3t", "refresh-s3cr3t")


@pytest.fixture
def portals(db):
    webhook = Portal.objects.create(
        name="acme", url="https://acme.bitrix24.com", webhook_user_id=1, webhook_code="webhook-code-s3cr3t"
    )
    Bot.objects.create(portal=webhook, code="support_bot", bot_token="bot-token-s3cr3t")
    oauth = Portal.objects.create(
        name="globex",
        url="https://globex.bitrix24.com",
        auth_type=AuthType.OAUTH,
        oauth_client_id="local.1",
        oauth_client_secret="client-secret-s3cr3t",
        oauth_access_token="access-s3cr3t",
        oauth_refresh_token="refresh-s3cr3t",
    )
    return webhook, oauth


def assert_no_secret(html: str) -> None:
    for secret in SECRETS:
        assert secret not in html, secret


# Packed history: bit-packed rows only the history room reads (the bot pages show them); and the
# incident's events, shown inline on the incident.
NOT_IN_ADMIN = {"checkhour", "checktally", "incidentevent"}


def test_every_model_has_an_admin_list(admin_client, portals):
    models = {model._meta.model_name for model in apps.get_app_config("checks").get_models()}
    missing = {name for name in models - NOT_IN_ADMIN if not admin.site.is_registered(apps.get_model("checks", name))}
    assert missing == set()
    for name in sorted(models - NOT_IN_ADMIN):
        response = admin_client.get(reverse(f"admin:checks_{name}_changelist"))
        assert response.status_code == 200, name
        assert_no_secret(response.content.decode())


def test_channels_are_listed_without_their_url(admin_client, portals):
    channel = Channel.objects.create(
        name="Team chat",
        url="slack://T000/B000/xoxb-channel-s3cr3t",
        fingerprint=fingerprint("slack://T000/B000/xoxb-channel-s3cr3t"),
    )
    for url in (reverse("admin:checks_channel_changelist"), reverse("admin:checks_channel_change", args=[channel.pk])):
        html = admin_client.get(url).content.decode()
        assert "Team chat" in html
        assert "channel-s3cr3t" not in html
    assert "slack://" in admin_client.get(reverse("admin:checks_channel_changelist")).content.decode()


def test_change_pages_mask_secrets(admin_client, portals):
    webhook, oauth = portals
    bot = webhook.bots.get()
    for url in (
        reverse("admin:checks_portal_change", args=[webhook.pk]),
        reverse("admin:checks_portal_change", args=[oauth.pk]),
        reverse("admin:checks_bot_change", args=[bot.pk]),
    ):
        html = admin_client.get(url).content.decode()
        assert "Stored (hidden). Leave empty to keep it" in html
        assert_no_secret(html)


def _portal_post(portal: Portal, **overrides) -> dict:
    data = {
        "name": portal.name,
        "url": portal.url,
        "auth_type": portal.auth_type,
        "webhook_user_id": portal.webhook_user_id or "",
        "oauth_client_id": portal.oauth_client_id,
        "alert_emails": "[]",
        "thresholds": "{}",
        "pace_rate": "1.0",
        "pace_burst": "5",
        "next_check_at_0": "2026-01-01",
        "next_check_at_1": "00:00:00",
        "bots-TOTAL_FORMS": "0",
        "bots-INITIAL_FORMS": "0",
    }
    data.update(overrides)
    return data


def test_empty_secret_keeps_the_stored_one(admin_client, portals):
    webhook, _ = portals
    url = reverse("admin:checks_portal_change", args=[webhook.pk])
    # A move to another host keeps the stored secrets only when the admin accepts it for that host.
    data = _portal_post(webhook, url="https://acme2.bitrix24.com", webhook_code="")
    response = admin_client.post(url, {**data, "send_credentials_to": "acme2.bitrix24.com"})
    assert response.status_code == 302, response.content.decode()[:2000]
    webhook.refresh_from_db()
    assert webhook.url == "https://acme2.bitrix24.com"
    assert webhook.webhook_code == "webhook-code-s3cr3t"


def test_typed_secret_replaces_the_stored_one(admin_client, portals):
    webhook, _ = portals
    url = reverse("admin:checks_portal_change", args=[webhook.pk])
    response = admin_client.post(url, _portal_post(webhook, webhook_code="new-code"))
    assert response.status_code == 302
    webhook.refresh_from_db()
    assert webhook.webhook_code == "new-code"


def test_bad_thresholds_are_refused_naming_the_status(admin_client, portals):
    webhook, _ = portals
    url = reverse("admin:checks_portal_change", args=[webhook.pk])
    response = admin_client.post(url, _portal_post(webhook, thresholds='{"not_owner": 0}'))
    assert response.status_code == 200
    assert "thresholds.not_owner: 0 is not a whole number of at least 1" in response.content.decode()
    response = admin_client.post(url, _portal_post(webhook, thresholds='{"not_owner": 4}'))
    assert response.status_code == 302
    webhook.refresh_from_db()
    assert webhook.thresholds == {"not_owner": 4}


def test_admin_edits_and_deletes_go_into_the_audit_log(admin_client, portals):
    webhook, oauth = portals
    bot = webhook.bots.get()
    url = reverse("admin:checks_portal_change", args=[webhook.pk])
    data = _portal_post(webhook, interval="600", webhook_code="new-code")
    data.update({"bots-TOTAL_FORMS": "1", "bots-INITIAL_FORMS": "1", "bots-0-id": str(bot.pk)})
    data.update({"bots-0-portal": str(webhook.pk), "bots-0-code": "support_bot", "bots-0-bot_token": "new-token"})
    data["bots-0-enabled"] = "on"
    assert admin_client.post(url, data).status_code == 302
    edit = AuditLog.objects.get(action="edit portal (admin)")
    assert edit.actor == "admin" and edit.object_repr == "acme"
    assert edit.changes["interval"] == [None, 600] and edit.changes["webhook_code"] == "changed"
    bots = AuditLog.objects.get(action="edit bots (admin)")
    assert bots.changes["bots"]["tokens changed"] == ["support_bot"]
    assert admin_client.post(reverse("admin:checks_portal_delete", args=[oauth.pk]), {"post": "yes"}).status_code == 302
    assert AuditLog.objects.filter(action="delete portal (admin)", object_repr="globex").exists()
    logged = str(list(AuditLog.objects.values_list("changes", flat=True)))
    assert "new-code" not in logged and "new-token" not in logged
