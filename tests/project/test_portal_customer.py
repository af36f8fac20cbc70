"""A portal's customer (name, contacts, notes) and tags: one rule at every way in, and back out."""

from io import StringIO

import pytest
import yaml
from django.core.management import CommandError, call_command
from django.urls import reverse

from checks.models import Portal
from tests.dashboard.test_admin_validation import admin_post
from tests.dashboard.test_dashboard_manage import portal_post
from tests.fixtures.api import call, entry
from tests.fixtures.dashboard import make_portal

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_cache")]

FILE = """
portals:
  - name: acme
    url: https://acme.bitrix24.com
    webhook: {user_id: 1, code: k}
    customer: {name: "ACME GmbH", contacts: [it@acme.example], notes: "Premium since 2025"}
    tags: [premium, DE, premium]
    bots: [{code: support_bot, bot_token: t}]
"""
TAG_RULE = "may only hold lower-case letters, digits, '_', '-' and '.'"


def import_text(tmp_path, text: str) -> str:
    path = tmp_path / "portals.yaml"
    path.write_text(text)
    err = StringIO()
    call_command("import_portals", str(path), stdout=StringIO(), stderr=err)
    return err.getvalue()


def test_the_portal_file_stores_customer_and_tags_and_exports_them(tmp_path):
    import_text(tmp_path, FILE)
    portal = Portal.objects.get(name="acme")
    assert (portal.customer_name, portal.customer_contacts) == ("ACME GmbH", ["it@acme.example"])
    assert portal.customer_notes == "Premium since 2025"
    assert portal.tags == ["premium", "de"]
    out = StringIO()
    call_command("export_portals", stdout=out)
    exported = yaml.safe_load(out.getvalue())["portals"][0]
    assert exported["customer"] == {"name": "ACME GmbH", "contacts": ["it@acme.example"], "notes": "Premium since 2025"}
    assert exported["tags"] == ["premium", "de"]


def test_a_file_without_them_keeps_what_is_stored(tmp_path):
    import_text(tmp_path, FILE)
    import_text(
        tmp_path,
        FILE.replace(
            '    customer: {name: "ACME GmbH", contacts: [it@acme.example], notes: "Premium since 2025"}\n', ""
        ).replace("    tags: [premium, DE, premium]\n", ""),
    )
    portal = Portal.objects.get(name="acme")
    assert portal.customer_name == "ACME GmbH" and portal.tags == ["premium", "de"]


@pytest.mark.parametrize(
    ("replace", "problem"),
    [
        ("tags: [premium, DE, premium]", f"portals[0]: tags: tag 'premium users' {TAG_RULE}"),
        ("contacts: [it@acme.example]", "portals[0]: customer: 'not-an-email' is not an email address"),
        ('notes: "Premium since 2025"', "portals[0]: customer: unknown key 'note'"),
    ],
)
def test_the_portal_file_refuses_bad_values_by_place_and_writes_nothing(tmp_path, replace, problem):
    bad = {
        "tags: [premium, DE, premium]": "tags: [premium users]",
        "contacts: [it@acme.example]": "contacts: [not-an-email]",
        'notes: "Premium since 2025"': 'note: "x"',
    }[replace]
    path = tmp_path / "portals.yaml"
    path.write_text(FILE.replace(replace, bad))
    err = StringIO()
    with pytest.raises(CommandError):
        call_command("import_portals", str(path), stderr=err)
    assert problem in err.getvalue()
    assert not Portal.objects.exists()


def test_the_api_takes_them_and_refuses_bad_ones_by_field(client, write_token, read_token):
    body = entry(customer={"name": "ACME GmbH", "contacts": ["it@acme.example"]}, tags=["premium"])
    assert call(client, "post", "/api/v1/portals", write_token, body).status_code == 201
    read = call(client, "get", "/api/v1/portals/acme", read_token).json()
    assert read["customer"] == {"name": "ACME GmbH", "contacts": ["it@acme.example"]} and read["tags"] == ["premium"]
    response = call(client, "patch", "/api/v1/portals/acme", write_token, {"tags": ["Not A Tag"]})
    assert response.status_code == 400 and TAG_RULE in response.json()["tags"][0]
    assert Portal.objects.get(name="acme").tags == ["premium"]


def test_the_dashboard_form_saves_them_and_refuses_bad_ones_on_the_field(client, dashboard_admin):
    client.force_login(dashboard_admin)
    data = portal_post("https://acme.bitrix24.com", action="save", customer_name="ACME GmbH",
                       customer_contacts="it@acme.example; boss@acme.example", tags="premium, DE")  # fmt: skip
    client.post(reverse("dashboard:portal-create"), data)
    portal = Portal.objects.get(name="acme")
    assert portal.customer_contacts == ["it@acme.example", "boss@acme.example"] and portal.tags == ["premium", "de"]
    data.update(tags="premium users")
    body = client.post(reverse("dashboard:portal-edit", args=[portal.pk]), data).content.decode()
    assert "may only hold lower-case letters" in body
    assert Portal.objects.get(name="acme").tags == ["premium", "de"]


@pytest.mark.urls("tests.urls_admin")
def test_the_django_admin_refuses_what_the_file_refuses(admin_client):
    portal = make_portal("acme", n_bots=0)
    response = admin_post(admin_client, portal, tags='["premium users"]', customer_contacts='["nope"]')
    body = response.content.decode()
    assert response.status_code == 200 and "may only hold lower-case letters" in body
    assert "&#x27;nope&#x27; is not an email address" in body
