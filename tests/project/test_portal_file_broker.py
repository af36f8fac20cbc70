"""The portal file's token broker: oauth {client_id, broker_url, broker_secret}; no secret in exports."""

import pytest
import yaml

from checks.models import AuthType, Portal
from checks.portal_file.load import PortalFileError, validate_portal_item
from tests.project.test_portal_file import export, import_problems, run_import

pytestmark = pytest.mark.django_db

BROKERED = """
portals:
  - name: brokered
    url: https://brokered.bitrix24.com
    oauth: {client_id: local.app, broker_url: "https://app.example.com/botwatch/token", broker_secret: "brk-s3cret"}
    bots:
      - code: app_bot
"""


def test_a_brokered_portal_imports_and_its_secret_is_encrypted_and_left_out_of_exports(tmp_path):
    run_import(tmp_path, BROKERED)
    portal = Portal.objects.get(name="brokered")
    assert portal.auth_type == AuthType.OAUTH
    assert portal.uses_broker
    assert (portal.oauth_broker_url, portal.oauth_broker_secret) == (
        "https://app.example.com/botwatch/token",
        "brk-s3cret",
    )
    assert portal.oauth_refresh_token == ""
    exported = export()
    assert "brk-s3cret" not in exported
    [item] = yaml.safe_load(exported)["portals"]
    assert item["oauth"] == {"client_id": "local.app", "broker_url": "https://app.example.com/botwatch/token"}
    # Re-imported without the secret: the stored one stays.
    run_import(tmp_path, exported)
    assert Portal.objects.get(name="brokered").oauth_broker_secret == "brk-s3cret"
    [again] = yaml.safe_load(export("--with-secrets"))["portals"]
    assert again["oauth"]["broker_secret"] == "brk-s3cret"


def test_moving_a_portal_to_a_broker_drops_its_refresh_chain(tmp_path):
    run_import(
        tmp_path,
        BROKERED.replace(
            '{client_id: local.app, broker_url: "https://app.example.com/botwatch/token", broker_secret: "brk-s3cret"}',
            "{client_id: local.app, client_secret: cs, access_token: at, refresh_token: rt}",
        ),
    )
    assert Portal.objects.get(name="brokered").oauth_refresh_token == "rt"
    run_import(tmp_path, BROKERED)
    portal = Portal.objects.get(name="brokered")
    assert (portal.oauth_refresh_token, portal.oauth_client_secret, portal.oauth_access_token) == ("", "", "")
    assert portal.oauth_refresh_issued_at is None


def test_broker_problems_are_named_with_their_place(tmp_path, settings):
    settings.BOTWATCH_ALLOW_HTTP = False
    text = """
portals:
  - name: a
    url: https://a.bitrix24.com
    oauth: {client_id: x, broker_url: "http://app.example.com/t", refresh_token: r}
  - name: b
    url: https://b.bitrix24.com
    oauth: {client_id: x, broker_secret: s, client_secret: c, access_token: a, refresh_token: r}
"""
    assert import_problems(tmp_path, text) == [
        "portals[0].oauth: broker_url: Bitrix24 requires HTTPS; set BOTWATCH_ALLOW_HTTP=1 to allow http",
        "portals[0].oauth: broker_secret is required",
        "portals[0].oauth: refresh_token cannot go with broker_url: the broker hands out the access token",
        "portals[1].oauth: broker_secret goes with broker_url",
    ]


def test_one_portal_on_its_own_has_its_problems_keyed_by_field():
    with pytest.raises(PortalFileError) as excinfo:
        validate_portal_item(
            {
                "name": "bad name",
                "url": "ftp://x",
                "webhook": {"user_id": 0},
                "colour": "red",
                "bots": [{"code": "a"}, {"id": -1, "bot_token": "t", "expect": {"eventMode": "push"}}],
            }
        )
    assert excinfo.value.located == [
        (
            "colour",
            "unknown key 'colour' (allowed: alert_emails, answer_webhook, bots, customer, interval, language, "
            "monthly_report, name, notify, notify_mode, oauth, paused, routes, tags, thresholds, url, webhook)",
        ),
        ("name", "name 'bad name' may only hold letters, digits, '-' and '_'"),
        ("url", "url: The address must be an https:// address with a host name"),
        ("webhook.user_id", "user_id must be a positive whole number"),
        ("webhook.code", "code is required"),
        ("bots[0].bot_token", "bot_token is required for webhook portals"),
        ("bots[1].id", "id must be a positive whole number"),
        ("bots[1].expect.eventMode", "must be fetch or webhook"),
    ]
