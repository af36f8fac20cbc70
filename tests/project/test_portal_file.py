"""import_portals / export_portals: round trip, idempotence, every error, rollback."""

import json
from io import StringIO

import pytest
import yaml
from django.core.management import CommandError, call_command

from checks.models import AuditLog, AuthType, Bot, Portal

GOOD = """
portals:
  - name: acme
    url: https://acme.bitrix24.com
    webhook: {user_id: 1, code: "k3y-webhook-code"}
    alert_emails: [oncall@example.com]
    interval: 300
    thresholds: {not_owner: 3}
    bots:
      - code: support_bot
        bot_token: my_bot_token
      - id: 456
        bot_token: other_token
  - name: globex
    url: https://globex.example.com/bitrix
    oauth:
      client_id: local.x
      client_secret: oauth-client-secret
      access_token: acc-token
      refresh_token: ref-token
    bots:
      - code: sales_bot
"""


def run_import(tmp_path, text, name="portals.yaml"):
    path = tmp_path / name
    path.write_text(text)
    out, err = StringIO(), StringIO()
    call_command("import_portals", str(path), stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def import_problems(tmp_path, text, name="portals.yaml") -> list[str]:
    path = tmp_path / name
    path.write_text(text)
    err = StringIO()
    with pytest.raises(CommandError) as excinfo:
        call_command("import_portals", str(path), stderr=err)
    assert excinfo.value.returncode == 2
    assert "nothing was imported" in str(excinfo.value)
    return err.getvalue().splitlines()


def export(*args) -> str:
    out = StringIO()
    call_command("export_portals", *args, stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_import_creates_portals_and_bots(tmp_path):
    out, _ = run_import(tmp_path, GOOD)
    assert "2 portal(s) created" in out
    acme = Portal.objects.get(name="acme")
    assert acme.auth_type == AuthType.WEBHOOK
    assert acme.webhook_user_id == 1
    assert acme.webhook_code == "k3y-webhook-code"
    assert acme.alert_emails == ["oncall@example.com"]
    assert acme.interval == 300
    assert acme.thresholds == {"not_owner": 3}
    assert {b.label for b in acme.bots.all()} == {"support_bot", "#456"}
    assert Bot.objects.get(portal=acme, bot_id=456).bot_token == "other_token"
    globex = Portal.objects.get(name="globex")
    assert globex.url == "https://globex.example.com/bitrix"
    assert globex.oauth_refresh_token == "ref-token"
    assert AuditLog.objects.filter(action="import").count() == 1


@pytest.mark.django_db
def test_import_is_idempotent(tmp_path):
    run_import(tmp_path, GOOD)
    out, _ = run_import(tmp_path, GOOD)
    assert "0 portal(s) created, 2 updated; 0 bot(s) created, 3 updated" in out
    assert Portal.objects.count() == 2
    assert Bot.objects.count() == 3


@pytest.mark.django_db
def test_import_updates_in_place(tmp_path):
    run_import(tmp_path, GOOD)
    acme_pk = Portal.objects.get(name="acme").pk
    run_import(tmp_path, GOOD.replace("interval: 300", "interval: 600").replace("my_bot_token", "rotated"))
    acme = Portal.objects.get(name="acme")
    assert acme.pk == acme_pk
    assert acme.interval == 600
    assert Bot.objects.get(portal=acme, code="support_bot").bot_token == "rotated"


@pytest.mark.django_db
def test_json_file_is_accepted(tmp_path):
    data = yaml.safe_load(GOOD)
    run_import(tmp_path, json.dumps(data), name="portals.json")
    assert Portal.objects.count() == 2


@pytest.mark.django_db
def test_export_leaves_secrets_out(tmp_path):
    run_import(tmp_path, GOOD)
    text = export()
    for secret in ("k3y-webhook-code", "my_bot_token", "other_token", "oauth-client-secret", "acc-token", "ref-token"):
        assert secret not in text
    data = yaml.safe_load(text)
    assert data["portals"][0]["webhook"] == {"user_id": 1}
    assert data["portals"][0]["bots"] == [{"code": "support_bot"}, {"id": 456}]


@pytest.mark.django_db
def test_round_trip_with_secrets(tmp_path):
    run_import(tmp_path, GOOD)
    first = export("--with-secrets", "--format", "json")
    assert "k3y-webhook-code" in first and "ref-token" in first
    Portal.objects.all().delete()
    run_import(tmp_path, first, name="again.json")
    assert export("--with-secrets", "--format", "json") == first


@pytest.mark.django_db
def test_export_without_secrets_reimports_over_existing(tmp_path):
    run_import(tmp_path, GOOD)
    out, _ = run_import(tmp_path, export())
    assert "2 updated" in out
    assert Portal.objects.get(name="acme").webhook_code == "k3y-webhook-code"
    assert Bot.objects.get(code="support_bot").bot_token == "my_bot_token"


@pytest.mark.django_db
def test_export_with_secrets_to_file_is_private(tmp_path):
    run_import(tmp_path, GOOD)
    target = tmp_path / "out.yaml"
    call_command("export_portals", "--with-secrets", "-o", str(target), stderr=StringIO())
    assert target.stat().st_mode & 0o077 == 0
    assert "ref-token" in target.read_text()


BAD = """
portals:
  - name: acme
    url: https://acme.bitrix24.com
    webhook: {user_id: 1, code: "k3y"}
    bots:
      - code: ok_bot
        bot_token: t
  - name: "bad name!"
    url: ftp://nowhere
    webhook: {user_id: 0}
    alert_emails: [not-an-email]
    interval: 5
    thresholds: {not_found: 0, gone: 2}
    colour: red
    bots:
      - code: x
      - bot_token: y
      - code: x
        bot_token: z
  - name: both
    url: https://both.example.com
    webhook: {user_id: 1, code: c}
    oauth: {client_id: a}
  - name: acme
    url: https://acme2.bitrix24.com
    oauth: {client_id: "local.y"}
"""


@pytest.mark.django_db
def test_bad_file_reports_every_problem_with_its_place(tmp_path):
    problems = import_problems(tmp_path, BAD)
    expected = [
        "portals[1]: unknown key 'colour'",
        "portals[1]: name 'bad name!' may only hold letters",
        "portals[1]: url: The address must be an https:// address with a host name",
        "portals[1].webhook: user_id must be a positive whole number",
        "portals[1].webhook: code is required",
        "portals[1].alert_emails[0]: 'not-an-email' is not an email address",
        "portals[1]: interval must be a whole number of seconds, at least 30",
        "portals[1]: thresholds.not_found: 0 is not a whole number of at least 1",
        "portals[1].bots[0]: bot_token is required for webhook portals",
        "portals[1].bots[1]: code or id is required",
        "portals[1].bots[2]: bot 'x' appears twice on this portal",
        "portals[2]: give exactly one of webhook or oauth",
        "portals[3].oauth: client_secret is required",
        "portals[3].oauth: refresh_token is required",
        "portals[3]: name 'acme' appears twice in the file",
    ]
    for line in expected:
        assert any(p.startswith(line) for p in problems), (line, problems)
    assert Portal.objects.count() == 0
    assert AuditLog.objects.count() == 0


@pytest.mark.django_db
def test_bad_file_changes_nothing_already_stored(tmp_path):
    run_import(tmp_path, GOOD)
    before = export("--with-secrets")
    broken = GOOD.replace("interval: 300", "interval: 600") + "  - name: broken\n    url: https://x.example.com\n"
    problems = import_problems(tmp_path, broken)
    assert problems == ["portals[2]: give exactly one of webhook or oauth"]
    assert export("--with-secrets") == before


@pytest.mark.django_db
def test_failure_during_write_rolls_back(tmp_path, monkeypatch):
    """A failure after some rows were written leaves the database as it was."""
    from checks.portal_file import load as portal_file

    real = portal_file._upsert
    written = []

    def failing(model, *args, **kwargs):
        if model is Bot:
            written.append(Portal.objects.count())  # the portals are in the database by now
            raise RuntimeError("disk full")
        return real(model, *args, **kwargs)

    monkeypatch.setattr(portal_file, "_upsert", failing)
    with pytest.raises(RuntimeError):
        run_import(tmp_path, GOOD)
    assert written == [2]
    assert Portal.objects.count() == 0
    assert Bot.objects.count() == 0


@pytest.mark.django_db
def test_http_url_needs_allow_http(tmp_path, settings):
    settings.BOTWATCH_ALLOW_HTTP = False
    text = GOOD.replace("https://acme.bitrix24.com", "http://acme.bitrix24.com")
    problems = import_problems(tmp_path, text)
    assert problems == ["portals[0]: url: Bitrix24 requires HTTPS; set BOTWATCH_ALLOW_HTTP=1 to allow http"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("portals: [\n  - name: a\n  url", "line 2: not valid YAML or JSON"),
        ("- just a list", "file: the top level must be a mapping with a 'portals' list"),
        ("portals: 3", "portals: must be a list"),
    ],
)
def test_unreadable_file_is_named(tmp_path, text, message):
    problems = import_problems(tmp_path, text)
    assert problems[0].startswith(message), problems


def test_missing_file_exits_2(tmp_path):
    with pytest.raises(CommandError) as excinfo:
        call_command("import_portals", str(tmp_path / "nope.yaml"))
    assert excinfo.value.returncode == 2
    assert "nope.yaml: cannot read the file" in str(excinfo.value)


@pytest.mark.django_db
def test_an_address_botwatch_could_not_call_is_a_problem(tmp_path):
    text = GOOD.replace("https://acme.bitrix24.com", "https://acme.bitrix24.com:99999")
    assert import_problems(tmp_path, text) == [
        # One validator for the dashboard, the admin and the importer (checks.portal_file.schema).
        "portals[0]: url: Port 99999 is out of range (1-65535)"
    ]


MOVED = """
portals:
  - name: acme
    url: https://acme.example.org
    webhook: {user_id: 1}
    bots:
      - code: support_bot
      - id: 456
  - name: globex
    url: https://globex.example.com/other-prefix
    oauth: {client_id: local.x}
    bots:
      - code: sales_bot
"""


@pytest.mark.django_db
def test_a_url_moved_to_another_host_needs_the_secrets_again_or_a_confirmation(tmp_path):
    run_import(tmp_path, GOOD)
    assert import_problems(tmp_path, MOVED) == [
        "portals[0]: url moves acme from acme.bitrix24.com to acme.example.org: give webhook.code, "
        "bots[0].bot_token, bots[1].bot_token again, or confirm with --send-credentials-to acme.example.org"
    ]  # globex stays on its host (another path): its stored secrets may go on being used there
    assert Portal.objects.get(name="acme").url == "https://acme.bitrix24.com"

    out = StringIO()
    path = tmp_path / "moved.yaml"
    path.write_text(MOVED)
    call_command("import_portals", str(path), "--send-credentials-to", "acme.example.org", stdout=out)
    acme = Portal.objects.get(name="acme")
    assert acme.url == "https://acme.example.org" and acme.webhook_code == "k3y-webhook-code"
    assert acme.bots.get(code="support_bot").bot_token == "my_bot_token"
    entry = AuditLog.objects.filter(action="import").latest("id")
    assert entry.changes["credentials sent to"] == ["acme.example.org"]


@pytest.mark.django_db
def test_a_confirmation_for_another_host_does_not_count(tmp_path):
    run_import(tmp_path, GOOD)
    path = tmp_path / "moved.yaml"
    path.write_text(MOVED)
    err = StringIO()
    with pytest.raises(CommandError) as excinfo:
        call_command("import_portals", str(path), "--send-credentials-to", "elsewhere.example.org", stderr=err)
    assert excinfo.value.returncode == 2
    assert "url moves acme from acme.bitrix24.com to acme.example.org" in err.getvalue()
    assert Portal.objects.get(name="acme").url == "https://acme.bitrix24.com"
