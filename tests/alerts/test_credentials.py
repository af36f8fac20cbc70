"""Credential warnings: long bot tokens and old refresh tokens, and the weekly digest."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from checks.alerts.credentials import refresh_credential_warnings, send_credential_digest
from checks.models import AuthType, Bot, CredentialWarning, Notification, Portal

pytestmark = pytest.mark.django_db(transaction=True)
LONG = "x" * 48


def webhook_portal(name="acme", emails=("support@example.com",)) -> Portal:
    return Portal.objects.create(
        name=name,
        url=f"https://{name}.bitrix24.com",
        webhook_user_id=1,
        webhook_code="hook-code-771",
        alert_emails=list(emails),
    )


def test_a_bot_token_over_40_characters_warns_and_40_does_not():
    portal = webhook_portal()
    Bot.objects.create(portal=portal, code="long_bot", bot_token="y" * 41)
    Bot.objects.create(portal=portal, code="fine_bot", bot_token="z" * 40)
    assert refresh_credential_warnings() == 1
    [warning] = CredentialWarning.objects.all()
    assert warning.bot.code == "long_bot" and warning.kind == CredentialWarning.Kind.LONG_BOT_TOKEN
    assert "41 characters" in warning.detail and "y" * 41 not in warning.detail
    bot = Bot.objects.get(code="long_bot")  # rotated
    bot.bot_token = "short-token"
    bot.save()
    assert refresh_credential_warnings() == 0 and not CredentialWarning.objects.exists()


def test_an_oauth_refresh_token_older_than_150_days_warns():
    now = timezone.now()
    portal = Portal.objects.create(
        name="oa",
        url="https://oa.bitrix24.com",
        auth_type=AuthType.OAUTH,
        oauth_client_id="local.x",
        oauth_client_secret="cs",
        oauth_access_token="at",
        oauth_refresh_token="rt",
        oauth_refresh_issued_at=now - timedelta(days=149),
    )
    assert refresh_credential_warnings(now=now) == 0
    Portal.objects.filter(pk=portal.pk).update(oauth_refresh_issued_at=now - timedelta(days=151))
    assert refresh_credential_warnings(now=now) == 1
    [warning] = CredentialWarning.objects.all()
    assert warning.bot is None and "151 days ago" in warning.detail


def test_the_weekly_digest_goes_once_per_week_and_lists_every_warning(smtp_sink):
    for name in ("acme", "globex"):
        Bot.objects.create(portal=webhook_portal(name), code=f"{name}_bot", bot_token=LONG)
    # A fixed Monday morning: the clock's own would cross into the next ISO week two hours later
    # every Sunday from 22:00.
    monday = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    refresh_credential_warnings(now=monday)
    [pk] = send_credential_digest(monday, inline=True)
    assert send_credential_digest(monday + timedelta(hours=2), inline=True) == []  # a second beat, same week
    [email] = smtp_sink.wait_for(1)
    assert email["Subject"] == "[BotWatch] Weekly credential digest: 2 warnings on 2 portals"
    body = email.get_body(("plain",)).get_content()
    assert "== acme ==" in body and "globex_bot: bot token is 48 characters" in body
    assert LONG not in email.as_string() and "hook-code-771" not in email.as_string()
    assert Notification.objects.get(pk=pk).state == "sent"
    assert len(send_credential_digest(monday + timedelta(days=7), inline=True)) == 1  # next week: again
