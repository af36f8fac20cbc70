"""The portal form helps: https:// by default, a pasted webhook address fills three fields, one error
a field, Bitrix24's request-rate limits as bounds. The address rule is the schema's, so the portal
file takes a scheme-less address the same way."""

import pytest
from django.urls import reverse

from checks.models import Portal
from checks.portal_file.load import import_portal_file
from tests.dashboard.test_dashboard_manage import portal_post

pytestmark = pytest.mark.django_db


def errors_of(response, field: str) -> list[str]:
    return list(response.context["form"].errors.get(field, []))


def test_an_address_without_a_scheme_is_saved_as_https(admin_client, settings):
    settings.BOTWATCH_ALLOW_HTTP = True  # even where http is allowed, it is never assumed
    response = admin_client.post(reverse("dashboard:portal-create"), portal_post("acme.bitrix24.com", action="save"))
    assert response.status_code == 302
    assert Portal.objects.get().url == "https://acme.bitrix24.com"


def test_the_portal_file_takes_a_scheme_less_address_as_https():
    import_portal_file("portals: [{name: acme, url: acme.bitrix24.com, webhook: {user_id: 1, code: k3y}}]")
    assert Portal.objects.get().url == "https://acme.bitrix24.com"


def test_http_is_refused_unless_allowed(admin_client, settings):
    settings.BOTWATCH_ALLOW_HTTP = False
    response = admin_client.post(
        reverse("dashboard:portal-create"), portal_post("http://acme.bitrix24.com", action="save")
    )
    assert errors_of(response, "url") == ["Bitrix24 requires HTTPS; set BOTWATCH_ALLOW_HTTP=1 to allow http."]


def test_a_pasted_webhook_address_fills_address_user_id_and_code(admin_client):
    data = portal_post("https://acme.bitrix24.com/rest/7/abc123s3cret/", action="save", code="")
    data["webhook_user_id"] = ""
    response = admin_client.post(reverse("dashboard:portal-create"), data)
    assert response.status_code == 302
    portal = Portal.objects.get()
    assert (portal.url, portal.webhook_user_id, portal.webhook_code) == ("https://acme.bitrix24.com", 7, "abc123s3cret")


def test_a_pasted_webhook_address_that_contradicts_the_user_id_says_so(admin_client):
    data = portal_post("acme.bitrix24.com/rest/7/abc123s3cret/profile.json", action="save", webhook_user_id="9")
    response = admin_client.post(reverse("dashboard:portal-create"), data)
    assert errors_of(response, "webhook_user_id") == ["The pasted webhook address says user id 7."]
    assert "abc123s3cret" not in str(response.context["form"].errors)


def test_a_negative_user_id_gets_one_clear_error(admin_client):
    response = admin_client.post(
        reverse("dashboard:portal-create"),
        portal_post("https://acme.bitrix24.com", action="save", webhook_user_id="-5"),
    )
    assert errors_of(response, "webhook_user_id") == [
        "The user id is the number after /rest/ in the webhook address: a whole number from 1."
    ]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("pace_rate", "500", "Requests per second must be from 0.05 to 2"),
        ("pace_rate", "0", "Requests per second must be from 0.05 to 2"),
        ("pace_burst", "500", "The burst must be from 1 to 50"),
    ],
)
def test_pacing_beyond_bitrix24s_limits_is_refused(admin_client, field, value, message):
    response = admin_client.post(
        reverse("dashboard:portal-create"), portal_post("https://acme.bitrix24.com", action="save", **{field: value})
    )
    [error] = errors_of(response, field)
    assert error.startswith(message)
    assert not Portal.objects.exists()


def test_a_failed_save_keeps_the_typed_secrets_masked(admin_client):
    data = portal_post("https://acme.bitrix24.com", action="save", code="typed-s3cret", webhook_user_id="-5")
    html = admin_client.post(reverse("dashboard:portal-create"), data).content.decode()
    assert 'type="password" name="webhook_code" value="typed-s3cret"' in html
    assert 'type="password" name="bots-0-bot_token" value="tok-1"' in html
