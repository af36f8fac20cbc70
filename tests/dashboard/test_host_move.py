"""A stored secret goes only to the host it was given for, through every way in.

A portal's address moved to another host (here: a raw HTTP server that records every byte it
receives) must not take the stored webhook code, bot tokens or broker secret along unless each
is given again or an admin accepts the move. Each test moves the portal through one door and
then runs a verification: the new host must have received no stored secret.
"""

import contextlib
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from checks.models import AuditLog, Bot, Portal
from tests.bitrix24.brokers import BROKER_SECRET, broker_portal
from tests.dashboard.test_admin import _portal_post
from tests.dashboard.test_dashboard_manage import portal_post
from tests.fixtures.api import call
from tests.fixtures.receiver import answer, raw_receiver

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_cache")]

CODE, TOKEN = "stored-code-9f2c", "stored-token-4b7e"


@pytest.fixture
def new_host():
    """Another host that answers every request with a server error and keeps what it received."""
    with raw_receiver(answer(500, {"error": "nope"})) as server:
        server.base = server.url.removesuffix("/token")
        yield server


def received(server) -> bytes:
    return b"".join(server.requests)


@pytest.fixture
def acme(simulator, settings) -> Portal:
    settings.BITRIX24_RETRIES = 0
    simulator.add_portal("acme", webhook_user_id=1, webhook_code=CODE)
    simulator.add_bot("acme", code="support_bot", bot_token=TOKEN)
    portal = Portal.objects.create(name="acme", url=simulator.portal_url("acme"), webhook_user_id=1, webhook_code=CODE)
    Bot.objects.create(portal=portal, code="support_bot", bot_token=TOKEN)
    return portal


def verify() -> None:
    with contextlib.suppress(CommandError):
        call_command("verify", stdout=StringIO(), stderr=StringIO())


def assert_nothing_stored_reached(server) -> None:
    verify()
    data = received(server)
    assert CODE.encode() not in data and TOKEN.encode() not in data and BROKER_SECRET.encode() not in data


@pytest.mark.urls("tests.urls_admin")
def test_django_admin_changing_only_the_url(admin_client, acme, new_host):
    url = reverse("admin:checks_portal_change", args=[acme.pk])
    response = admin_client.post(url, _portal_post(acme, url=new_host.base))
    assert response.status_code == 200
    body = response.content.decode()
    assert "would send the stored Webhook code, bot token of support_bot there" in body
    assert Portal.objects.get().url == acme.url
    assert_nothing_stored_reached(new_host)


@pytest.mark.urls("tests.urls_admin")
def test_django_admin_accepting_the_move_is_audited_old_to_new(admin_client, acme, new_host):
    url = reverse("admin:checks_portal_change", args=[acme.pk])
    host = new_host.base.split("/")[2]
    response = admin_client.post(url, _portal_post(acme, url=new_host.base, send_credentials_to=host))
    assert response.status_code == 302
    entry = AuditLog.objects.get(action="edit portal (admin)")
    assert entry.actor == "admin" and entry.changes["url"] == [acme.url, new_host.base]
    assert entry.changes["moves"] == {"url": [acme.url.split("/")[2], host]}
    assert "webhook_code" not in entry.changes and CODE not in str(entry.changes)


@pytest.mark.parametrize("method", ["patch", "put"])
def test_api_moving_the_url_with_a_new_webhook_code_but_no_bots(client, write_token, acme, new_host, method):
    body = {"url": new_host.base, "webhook": {"user_id": 1, "code": "new-code"}}
    if method == "put":
        body["name"] = "acme"
    response = call(client, method, "/api/v1/portals/acme", write_token, body)
    assert response.status_code == 400, response.content
    assert "the bot_token of support_bot" in response.json()["url"][0]
    assert Portal.objects.get().url == acme.url
    assert_nothing_stored_reached(new_host)


def test_api_edits_record_the_old_and_new_address(client, write_token, acme, new_host):
    body = {"url": new_host.base, "webhook": {"code": "new-code"}, "bots": [{"code": "support_bot", "bot_token": "t"}]}
    assert call(client, "patch", "/api/v1/portals/acme", write_token, body).status_code == 200
    entry = AuditLog.objects.get(action="edit portal")
    assert entry.changes["url"] == [acme.url, new_host.base]


def test_dashboard_form_leaving_the_bots_out(client, dashboard_admin, acme, new_host):
    client.force_login(dashboard_admin)
    data = portal_post(new_host.base, code="new-code", action="save")
    data.update({"bots-TOTAL_FORMS": "0", "bots-INITIAL_FORMS": "0"})
    response = client.post(reverse("dashboard:portal-edit", args=[acme.pk]), data)
    assert response.status_code == 200
    assert "would send the stored bot token of support_bot there" in response.content.decode()
    assert Portal.objects.get().url == acme.url
    assert_nothing_stored_reached(new_host)


def test_portal_file_leaving_the_bots_out(acme, new_host, tmp_path):
    path = tmp_path / "moved.yaml"
    path.write_text(
        f"portals:\n  - name: acme\n    url: {new_host.base}\n    webhook: {{user_id: 1, code: new-code}}\n"
    )
    err = StringIO()
    with pytest.raises(CommandError):
        call_command("import_portals", str(path), stderr=err)
    assert "give the bot_token of support_bot again" in err.getvalue()
    assert Portal.objects.get().url == acme.url
    assert_nothing_stored_reached(new_host)


@pytest.fixture
def brokered(simulator) -> Portal:
    return broker_portal(simulator, "acme")


def brokered_post(portal: Portal, broker_url: str, **extra) -> dict:
    data = portal_post(portal.url, auth_type="oauth", oauth_client_id=portal.oauth_client_id, **extra)
    data.update({"oauth_broker_url": broker_url, "bots-TOTAL_FORMS": "0", "bots-INITIAL_FORMS": "0"})
    return data


def test_test_connection_to_a_new_broker(client, dashboard_admin, brokered, new_host):
    client.force_login(dashboard_admin)
    Bot.objects.create(portal=brokered, code="support_bot")
    data = brokered_post(brokered, new_host.url, action="test")
    data.update({"bots-TOTAL_FORMS": "1", "bots-INITIAL_FORMS": "1", "bots-0-id": str(brokered.bots.get().pk)})
    data.update({"bots-0-code": "support_bot", "bots-0-enabled": "on"})
    body = client.post(reverse("dashboard:portal-edit", args=[brokered.pk]), data).content.decode()
    assert "would send the stored Broker secret there" in body
    assert BROKER_SECRET.encode() not in received(new_host)
    entry = AuditLog.objects.get(action="test connection")
    assert entry.changes["credentials sent to new host"] is False and entry.changes["statuses"] is None
    assert entry.changes["moves"] == {
        "broker_url": [brokered.oauth_broker_url.split("/")[2], new_host.url.split("/")[2]]
    }


def test_dashboard_form_saving_a_new_broker(client, dashboard_admin, brokered, new_host):
    client.force_login(dashboard_admin)
    response = client.post(reverse("dashboard:portal-edit", args=[brokered.pk]), brokered_post(brokered, new_host.url))
    assert response.status_code == 200
    assert Portal.objects.get().oauth_broker_url == brokered.oauth_broker_url
    assert_nothing_stored_reached(new_host)


def test_api_and_portal_file_moving_the_broker(client, write_token, brokered, new_host, tmp_path):
    oauth = {"client_id": brokered.oauth_client_id, "broker_url": new_host.url}
    response = call(client, "patch", "/api/v1/portals/acme", write_token, {"oauth": oauth})
    assert response.status_code == 400
    assert "give oauth.broker_secret again" in response.json()["oauth.broker_url"][0]
    path = tmp_path / "moved.yaml"
    path.write_text(
        f"portals:\n  - name: acme\n    url: {brokered.url}\n"
        f"    oauth: {{client_id: {brokered.oauth_client_id}, broker_url: '{new_host.url}'}}\n"
    )
    err = StringIO()
    with pytest.raises(CommandError):
        call_command("import_portals", str(path), stderr=err)
    assert "broker_url moves acme from" in err.getvalue()
    assert Portal.objects.get().oauth_broker_url == brokered.oauth_broker_url
    assert_nothing_stored_reached(new_host)


def test_api_broker_move_with_its_secret_given_again_is_audited_old_to_new(client, write_token, brokered, new_host):
    oauth = {"client_id": brokered.oauth_client_id, "broker_url": new_host.url, "broker_secret": "new-secret"}
    assert call(client, "patch", "/api/v1/portals/acme", write_token, {"oauth": oauth}).status_code == 200
    entry = AuditLog.objects.get(action="edit portal")
    assert entry.changes["broker_url"] == [brokered.oauth_broker_url, new_host.url]
    assert "new-secret" not in str(entry.changes)


def test_portal_file_move_accepted_by_the_admin_is_audited_old_to_new(acme, new_host, tmp_path):
    path = tmp_path / "moved.yaml"
    path.write_text(f"portals:\n  - name: acme\n    url: {new_host.base}\n    webhook: {{user_id: 1}}\n")
    host = new_host.base.split("/")[2]
    call_command("import_portals", str(path), "--send-credentials-to", host, stdout=StringIO())
    entry = AuditLog.objects.get(action="import")
    assert entry.changes["moves"] == {"acme": {"url": [acme.url.split("/")[2], host]}}
    assert Portal.objects.get().webhook_code == CODE  # accepted: the stored secrets go along
