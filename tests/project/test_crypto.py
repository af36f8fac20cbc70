"""Credentials are encrypted at rest; key rotation keeps old rows readable."""

import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection

from checks.crypto import DecryptionError
from checks.models import Bot, Portal

ROOT = Path(__file__).resolve().parents[2]
OLD_KEY, NEW_KEY = "old-key-0123456789abcdef", "new-key-0123456789abcdef"


def stored(table: str, column: str, pk: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {table} WHERE id = %s", [pk])  # noqa: S608 (names are literals)
        return cursor.fetchone()[0]


def test_database_file_holds_no_credential_in_clear(tmp_path, var_dir):
    """Through the real commands on the embedded PostgreSQL of their own var folder: the bytes on
    disk (tables and write-ahead log, each command stopping the server with a checkpoint) never
    contain a secret."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "dashboard.settings",
        "SECRET_KEY": "x" * 40,
        "BOTWATCH_SECRET_KEYS": NEW_KEY,
        "BOTWATCH_VAR_DIR": str(var_dir),
        "CELERY_BROKER_URL": "memory://",
    }
    env.pop("REDIS_URL", None)
    env.pop("DATABASE_URL", None)
    portal_file = tmp_path / "portals.yaml"
    portal_file.write_text(
        "portals:\n"
        "  - name: acme\n    url: https://acme.bitrix24.com\n"
        "    webhook: {user_id: 1, code: WEBHOOKCODEPLAINTEXT}\n"
        "    bots: [{code: support_bot, bot_token: BOTTOKENPLAINTEXT}]\n"
    )
    for args in (["migrate", "-v0"], ["import_portals", str(portal_file)]):
        subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True, capture_output=True)
    raw = b"".join(path.read_bytes() for path in (var_dir / "postgres").rglob("*") if path.is_file())
    assert b"support_bot" in raw  # the file is readable: the check below means something
    assert b"WEBHOOKCODEPLAINTEXT" not in raw
    assert b"BOTTOKENPLAINTEXT" not in raw


@pytest.mark.django_db
def test_columns_hold_ciphertext_and_models_see_plaintext():
    portal = Portal.objects.create(name="acme", url="https://a.example.com", webhook_user_id=1, webhook_code="k3y")
    bot = Bot.objects.create(portal=portal, code="b", bot_token="tok")
    assert stored("checks_portal", "webhook_code", portal.pk).startswith("fernet2:")
    assert "k3y" not in stored("checks_portal", "webhook_code", portal.pk)
    assert "tok" not in stored("checks_bot", "bot_token", bot.pk)
    assert Portal.objects.get(pk=portal.pk).webhook_code == "k3y"
    assert stored("checks_portal", "oauth_client_secret", portal.pk) == ""


@pytest.mark.django_db
def test_key_rotation_keeps_old_rows_readable(settings):
    settings.BOTWATCH_SECRET_KEYS = [OLD_KEY]
    portal = Portal.objects.create(name="acme", url="https://a.example.com", webhook_user_id=1, webhook_code="k3y")
    Bot.objects.create(portal=portal, code="b", bot_token="tok")
    before = stored("checks_portal", "webhook_code", portal.pk)

    settings.BOTWATCH_SECRET_KEYS = [NEW_KEY, OLD_KEY]
    assert Portal.objects.get(pk=portal.pk).webhook_code == "k3y"
    out = StringIO()
    call_command("rotate_secrets", stdout=out)
    assert "1 portal(s) and 1 bot(s)" in out.getvalue()
    assert stored("checks_portal", "webhook_code", portal.pk) != before

    settings.BOTWATCH_SECRET_KEYS = [NEW_KEY]
    assert Portal.objects.get(pk=portal.pk).webhook_code == "k3y"
    assert Bot.objects.get(portal=portal).bot_token == "tok"


@pytest.mark.django_db
def test_removed_key_fails_loudly_without_leaking(settings):
    settings.BOTWATCH_SECRET_KEYS = [OLD_KEY]
    portal = Portal.objects.create(name="acme", url="https://a.example.com", webhook_user_id=1, webhook_code="k3y")
    settings.BOTWATCH_SECRET_KEYS = [NEW_KEY]
    with pytest.raises(DecryptionError, match="BOTWATCH_SECRET_KEYS") as excinfo:
        Portal.objects.get(pk=portal.pk)
    assert "k3y" not in str(excinfo.value)


@pytest.mark.django_db
def test_channel_urls_are_ciphertext_at_rest_and_rotate(settings):
    settings.BOTWATCH_SECRET_KEYS = [OLD_KEY]
    urls = ["tgram://123456789:AAHs3cret/42"]
    routes = {"not_found": ["slack://T0K3N/B0K3N/C0K3N", "oncall@example.com"]}
    portal = Portal.objects.create(
        name="acme", url="https://a.example.com", webhook_user_id=1, webhook_code="k3y", notify=urls, routes=routes
    )
    for column in ("notify", "routes"):
        assert stored("checks_portal", column, portal.pk).startswith("fernet2:")  # the HKDF scheme
    assert "AAHs3cret" not in stored("checks_portal", "notify", portal.pk)
    assert "T0K3N" not in stored("checks_portal", "routes", portal.pk)
    fresh = Portal.objects.get(pk=portal.pk)
    assert (fresh.notify, fresh.routes) == (urls, routes)
    empty = Portal.objects.create(name="globex", url="https://g.example.com", webhook_user_id=1, webhook_code="k3y")
    assert stored("checks_portal", "notify", empty.pk) == "" and Portal.objects.get(pk=empty.pk).routes == {}

    settings.BOTWATCH_SECRET_KEYS = [NEW_KEY, OLD_KEY]
    call_command("rotate_secrets", stdout=StringIO())
    settings.BOTWATCH_SECRET_KEYS = [NEW_KEY]
    assert Portal.objects.get(pk=portal.pk).notify == urls
