"""API tokens on the Account page: created and shown once, listed with created and last used, revoked."""

import re

import pytest
from django.urls import reverse

from checks.models import ApiToken, AuditLog
from tests.fixtures.api import call

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_cache")]
ACCOUNT = "/account/"


def create(client, name: str, role: str = "read"):
    return client.post(reverse("dashboard:token-create"), {"name": name, "role": role})


def shown_token(response) -> str:
    found = re.search(r'value="(bw_[^"]+)"', response.content.decode())
    assert found, response.content.decode()[:3000]
    return found.group(1)


def last_used(page: str, name: str) -> str:
    row = re.search(rf'<tr data-token="{name}">(.*?)</tr>', page, re.S).group(1)
    cell = re.search(r'<td data-label="Last used">(.*?)</td>', row, re.S).group(1)
    return re.sub(r"<span class=\"muted\">never</span>", "never", cell)


def test_a_new_token_is_shown_once_works_and_only_its_hash_is_kept(client, viewer):
    client.force_login(viewer)
    response = create(client, "grafana")
    assert response.status_code == 201
    assert "no-store" in response["Cache-Control"]
    token = shown_token(response)
    row = ApiToken.objects.get()
    assert (row.name, row.role, row.created_by) == ("grafana", "read", viewer)
    assert row.digest == ApiToken.hash(token) and token not in (row.digest, row.hint)
    page = client.get(ACCOUNT).content.decode()
    assert token not in page  # never again
    assert "grafana" in page and f"{row.hint}…" in page
    assert last_used(page, "grafana") == "never"
    assert call(client, "get", "/api/v1/bots", token).status_code == 200
    assert last_used(client.get(ACCOUNT).content.decode(), "grafana").startswith("<time datetime=")
    assert AuditLog.objects.get(action="create api token").user == viewer


def test_only_admins_create_write_tokens(client, viewer, dashboard_admin):
    client.force_login(viewer)
    refused = create(client, "hook", "write")
    assert refused.status_code == 400 and "Only admins create write tokens." in refused.content.decode()
    assert not ApiToken.objects.exists()
    client.force_login(dashboard_admin)
    token = shown_token(create(client, "hook", "write"))
    assert ApiToken.objects.get().role == "write"
    assert call(client, "delete", "/api/v1/portals/none", token).status_code == 404  # may write


def test_a_blank_name_is_refused_beside_the_field(client, viewer):
    client.force_login(viewer)
    response = create(client, "")
    assert response.status_code == 400 and "This field is required." in response.content.decode()


def test_users_see_and_revoke_their_own_tokens_and_admins_every_token(client, viewer, operator, dashboard_admin):
    mine, _ = ApiToken.issue("mine", "read", created_by=viewer)
    theirs, _ = ApiToken.issue("theirs", "read", created_by=operator)
    command, _ = ApiToken.issue("from-the-command", "write")
    client.force_login(viewer)
    page = client.get(ACCOUNT).content.decode()
    assert "mine" in page and "theirs" not in page and "from-the-command" not in page
    assert client.post(reverse("dashboard:token-revoke", args=[theirs.pk])).status_code == 404
    assert client.post(reverse("dashboard:token-revoke", args=[mine.pk])).status_code == 302
    assert set(ApiToken.objects.values_list("name", flat=True)) == {"theirs", "from-the-command"}
    client.force_login(dashboard_admin)
    page = client.get(ACCOUNT).content.decode()
    assert "theirs" in page and "from-the-command" in page and "create_api_token" in page
    client.post(reverse("dashboard:token-revoke", args=[command.pk]))
    assert list(ApiToken.objects.values_list("name", flat=True)) == ["theirs"]
    assert AuditLog.objects.filter(action="revoke api token").count() == 2


def test_a_revoked_token_no_longer_works(client, viewer):
    client.force_login(viewer)
    token = shown_token(create(client, "script"))
    client.post(reverse("dashboard:token-revoke", args=[ApiToken.objects.get().pk]))
    assert call(client, "get", "/api/v1/bots", token).status_code == 401
