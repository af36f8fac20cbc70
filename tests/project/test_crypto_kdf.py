"""Keys are stretched with HKDF (a Fernet key is used as it is) under a recorded scheme; rows
encrypted under the old SHA-256 stretching stay readable until rotate_secrets rewrites them."""

import base64
import hashlib
from io import StringIO

import pytest
from cryptography.fernet import Fernet, InvalidToken
from django.core.management import call_command
from django.db import connection

from checks.models import Bot, Portal

pytestmark = pytest.mark.django_db

KEY = "plain-key-0123456789abcdef"


def stored(table: str, column: str, pk: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {table} WHERE id = %s", [pk])  # noqa: S608 (names are literals)
        return cursor.fetchone()[0]


def write_raw(table: str, column: str, pk: int, value: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET {column} = %s WHERE id = %s", [value, pk])  # noqa: S608


def sha256_fernet(key: str) -> Fernet:
    """How earlier releases made a Fernet key of any string."""
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(key.encode()).digest()))


def legacy(key: str, plaintext: str) -> str:
    return "fernet:" + sha256_fernet(key).encrypt(plaintext.encode()).decode()


@pytest.fixture
def portal(settings):
    settings.BOTWATCH_SECRET_KEYS = [KEY]
    return Portal.objects.create(name="acme", url="https://a.example.com", webhook_user_id=1, webhook_code="k3y")


def test_new_rows_record_the_hkdf_scheme_and_the_old_stretching_cannot_read_them(portal):
    value = stored("checks_portal", "webhook_code", portal.pk)
    assert value.startswith("fernet2:")
    with pytest.raises(InvalidToken):
        sha256_fernet(KEY).decrypt(value.removeprefix("fernet2:").encode())
    assert Portal.objects.get(pk=portal.pk).webhook_code == "k3y"


def test_a_fernet_key_is_used_as_it_is(settings):
    key = Fernet.generate_key().decode()
    settings.BOTWATCH_SECRET_KEYS = [key]
    portal = Portal.objects.create(name="acme", url="https://a.example.com", webhook_user_id=1, webhook_code="k3y")
    value = stored("checks_portal", "webhook_code", portal.pk)
    assert Fernet(key.encode()).decrypt(value.removeprefix("fernet2:").encode()) == b"k3y"


def test_rows_under_the_old_stretching_stay_readable_and_rotation_rewrites_them(portal):
    write_raw("checks_portal", "webhook_code", portal.pk, legacy(KEY, "old-code"))
    bot = Bot.objects.create(portal=portal, code="b", bot_token="x")
    write_raw("checks_bot", "bot_token", bot.pk, legacy(KEY, "old-token"))

    assert Portal.objects.get(pk=portal.pk).webhook_code == "old-code"
    assert Bot.objects.get(pk=bot.pk).bot_token == "old-token"

    out = StringIO()
    call_command("rotate_secrets", stdout=out)

    assert stored("checks_portal", "webhook_code", portal.pk).startswith("fernet2:")
    assert stored("checks_bot", "bot_token", bot.pk).startswith("fernet2:")
    assert Portal.objects.get(pk=portal.pk).webhook_code == "old-code"
    assert Bot.objects.get(pk=bot.pk).bot_token == "old-token"
    assert "0 value(s) left under the old key stretching" in out.getvalue()
