"""The portal file's channel keys: notify, notify_mode and routes, validated like BOTWATCH_NOTIFY_URLS,
exported only with secrets, kept when a file without them is imported."""

import pytest
import yaml

from checks.models import NotifyMode, Portal
from tests.project.test_portal_file import export, import_problems, run_import

SLACK = "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ"
TEAM_CHAT = "bitrix24s://team.bitrix24.com/rest/1/t3am-h00k-c0de/?dialog=chat42"
FILE = f"""
portals:
  - name: acme
    url: https://acme.bitrix24.com
    webhook: {{user_id: 1, code: "k3y-webhook-code"}}
    notify: ["{SLACK}", "{TEAM_CHAT}"]
    notify_mode: replace
    routes:
      auth_failed: [owner@integrator.example, "tgram://123456789:AAHs3cret/42"]
      not_found: ["ntfys://oncall-s3cret-topic"]
    bots:
      - code: support_bot
        bot_token: my_bot_token
"""
SECRETS = ("TIiajkdnlazkcOXrIdevi7FQ", "t3am-h00k-c0de", "AAHs3cret", "oncall-s3cret-topic")


@pytest.mark.django_db
def test_channels_import_encrypted_and_export_only_with_secrets(tmp_path):
    run_import(tmp_path, FILE)
    portal = Portal.objects.get(name="acme")
    assert portal.notify == [SLACK, TEAM_CHAT]
    assert portal.notify_mode == NotifyMode.REPLACE
    assert portal.routes["auth_failed"] == ["owner@integrator.example", "tgram://123456789:AAHs3cret/42"]

    plain = export()
    for secret in SECRETS:
        assert secret not in plain
    item = yaml.safe_load(plain)["portals"][0]
    assert item["notify_mode"] == "replace" and "notify" not in item and "routes" not in item

    full = yaml.safe_load(export("--with-secrets"))["portals"][0]
    assert full["notify"] == [SLACK, TEAM_CHAT] and full["routes"]["not_found"] == ["ntfys://oncall-s3cret-topic"]


@pytest.mark.django_db
def test_a_file_without_channels_keeps_them_and_an_empty_list_clears(tmp_path):
    run_import(tmp_path, FILE)
    run_import(tmp_path, export())  # exported without secrets: notify and routes left out
    portal = Portal.objects.get(name="acme")
    assert portal.notify == [SLACK, TEAM_CHAT] and set(portal.routes) == {"auth_failed", "not_found"}

    run_import(tmp_path, FILE.replace(f'notify: ["{SLACK}", "{TEAM_CHAT}"]', "notify: []"))
    assert Portal.objects.get(name="acme").notify == []


@pytest.mark.django_db
def test_bad_channel_keys_are_named_with_their_place_and_never_echoed(tmp_path, settings):
    settings.BOTWATCH_ALLOW_HTTP = False
    bad = f"""
portals:
  - name: acme
    url: https://acme.bitrix24.com
    webhook: {{user_id: 1, code: "k3y"}}
    notify: ["slack://x0xb-s3cret", "bitrix24://team.example.com/rest/1/h00k-s3cret/?dialog=chat4", 42]
    notify_mode: sometimes
    routes:
      nowhere: ["{SLACK}"]
      not_found: []
      auth_failed: ["not an address", "msteams://s3cret-team/x"]
"""
    problems = import_problems(tmp_path, bad)
    assert problems[:2] == [
        "portals[0].notify[0]: slack://… is not a notification URL Apprise can use: "
        "An invalid Slack (first) Token ([redacted]) was specified.; Could not load Slack URL: slack://…",
        "portals[0].notify[1]: bitrix24://team.example.com: bitrix24:// is plain HTTP, which Bitrix24 refuses; "
        "use bitrix24s:// (or set BOTWATCH_ALLOW_HTTP=1 for a test portal)",
    ]
    assert problems[2] == "portals[0].notify[2]: a channel URL must be a non-empty string"
    assert problems[3] == "portals[0].notify_mode: must be one of add, replace"
    assert problems[4].startswith("portals[0].routes.nowhere: unknown status class (known: not_found, not_owner,")
    assert problems[5] == "portals[0].routes.not_found: must be a list of 1 to 20 channel URLs or email addresses"
    assert problems[6] == (
        "portals[0].routes.auth_failed[0]: 'not an address' is neither a channel URL nor an email address"
    )
    assert problems[7].startswith("portals[0].routes.auth_failed[1]: msteams://… is not a notification URL")
    text = "\n".join(problems)
    for secret in ("x0xb-s3cret", "h00k-s3cret", "s3cret-team", "TIiajkdnlazkcOXrIdevi7FQ"):
        assert secret not in text
    assert not Portal.objects.exists()
