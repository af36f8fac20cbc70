"""Bot codes: what Bitrix24 would refuse is refused at every way in, with its place; a code
stored before the rule (a `/` in it) still gets working API URLs."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from checks.models import Bot, Portal
from tests.dashboard.test_admin_validation import admin_post
from tests.dashboard.test_dashboard_manage import portal_post
from tests.fixtures.api import call, entry
from tests.fixtures.dashboard import make_portal, open_incident

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_cache")]

RULE = "may only hold letters a-z and A-Z, digits, '_', '-' and '.'"
BAD = ("team/support", "support bot", "bot?x=1", "бот", "a#b")


@pytest.mark.parametrize("code", BAD)
def test_the_portal_file_refuses_the_code_naming_its_place(tmp_path, code):
    path = tmp_path / "portals.yaml"
    path.write_text(
        "portals:\n  - name: acme\n    url: https://acme.bitrix24.com\n    webhook: {user_id: 1, code: k}\n"
        f"    bots: [{{code: '{code}', bot_token: t}}]\n"
    )
    err = StringIO()
    with pytest.raises(CommandError):
        call_command("import_portals", str(path), stderr=err)
    assert f"portals[0].bots[0]: Code {code!r} {RULE}" in err.getvalue()
    assert not Portal.objects.exists()


def test_the_api_refuses_it_by_field(client, write_token):
    body = entry(bots=[{"code": "team/support", "bot_token": "t"}])
    response = call(client, "post", "/api/v1/portals", write_token, body)
    assert response.status_code == 400
    assert RULE in response.json()["bots[0].code"][0]
    make_portal("globex", n_bots=0)
    response = call(client, "post", "/api/v1/portals/globex/bots", write_token, {"code": "a/b", "bot_token": "t"})
    assert response.status_code == 400 and RULE in response.json()["code"][0]
    assert not Bot.objects.exists()


def test_the_dashboard_form_refuses_it_on_the_field(client, dashboard_admin):
    client.force_login(dashboard_admin)
    data = portal_post("https://acme.bitrix24.com", bot_code="team/support", action="save")
    body = client.post(reverse("dashboard:portal-create"), data).content.decode()
    assert "Code &#x27;team/support&#x27; may only hold" in body
    assert not Portal.objects.exists()


@pytest.mark.urls("tests.urls_admin")
def test_the_django_admin_refuses_it(admin_client):
    portal = make_portal("acme", n_bots=1)
    bot = portal.bots.get()
    url = reverse("admin:checks_bot_change", args=[bot.pk])
    response = admin_client.post(url, {"portal": portal.pk, "code": "team/support", "enabled": "on"})
    assert response.status_code == 200 and "may only hold" in response.content.decode()
    response = admin_post(
        admin_client, portal, **{"bots-TOTAL_FORMS": "1", "bots-0-code": "x/y", "bots-0-bot_token": "t"}
    )
    assert response.status_code == 200 and "may only hold" in response.content.decode()
    assert list(Bot.objects.values_list("code", flat=True)) == ["bot_0"]


def test_a_stored_code_with_a_slash_keeps_every_list_working(client, read_token):
    portal = make_portal("acme", n_bots=0)
    bot = Bot.objects.create(portal=portal, code="team/support", bot_token="t")  # stored before the rule
    open_incident(bot)
    for path in ("/api/v1/bots", "/api/v1/incidents", "/api/v1/portals/acme/bots"):
        response = call(client, "get", path, read_token)
        assert response.status_code == 200, path
    listed = call(client, "get", "/api/v1/bots", read_token).json()["results"][0]
    detail = call(client, "get", listed["url"], read_token)
    assert detail.status_code == 200 and detail.json()["code"] == "team/support"
    history = call(client, "get", listed["url"] + "/verifications", read_token)
    assert history.status_code == 200
