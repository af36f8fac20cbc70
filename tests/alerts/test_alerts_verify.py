"""Alerts end to end through `manage.py verify`: the Bitrix24 simulator over HTTP, the engine,
incidents, and emails delivered to a real SMTP server before the command returns."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from checks.alerts.tasks import retry_pending
from checks.models import Bot, Notification, Portal
from dashboard.celery import app
from tests.alerts.helpers import simulator_portal

# The engine hands verifications to alerting after its commit: rows must really commit.
pytestmark = pytest.mark.django_db(transaction=True)

HOOK = "hook-s3cret-4d1f"
TOKENS = {f"bot_{i}": f"bot-token-{i}-7f3a9c" for i in range(5)}


def setup_portal(simulator, bots=("support_bot",)) -> Portal:
    portal = simulator_portal(simulator, "acme", HOOK)
    for code in bots:
        add_bot(simulator, code)
        Bot.objects.create(portal=portal, code=code, bot_token=token(code))
    return portal


def token(code: str) -> str:
    return TOKENS.get(code, f"{code}-token-91b2e6")


def add_bot(simulator, code: str) -> None:
    simulator.add_bot(
        "acme", code=code, bot_token=token(code), counters={"countMessage": 150, "countUser": 45}, growth=False
    )


def verify() -> int:
    """`manage.py verify`; its exit status."""
    try:
        call_command("verify", stdout=open("/dev/null", "w"))  # noqa: SIM115
    except CommandError as exc:
        return exc.returncode
    return 0


def assert_no_secret(messages) -> None:
    secrets = [HOOK, *TOKENS.values(), token("support_bot")]
    for message in messages:
        raw = message.as_string()
        leaked = [s for s in secrets if s in raw]
        assert not leaked, f"{message['Subject']} carries a secret"


def test_removed_bot_one_email_three_sweeps_later_still_one_back_one_recovery(simulator, smtp_sink):
    setup_portal(simulator)
    assert verify() == 0
    assert smtp_sink.messages == []

    simulator.remove_bot("acme", "support_bot")
    assert verify() == 1
    [alert] = smtp_sink.messages  # sent before the command returned
    assert alert["Subject"] == "[BotWatch] BOT_NOT_FOUND: support_bot on acme"
    text = smtp_sink.text_of(alert)
    # Verified in one batch with the portal probe: the command's error has no HTTP status of its own.
    assert "Error code:        BOT_NOT_FOUND" in text and "HTTP status:       (none)" in text
    assert "150 messages" in text and "45 users" in text  # the last good counters

    for _ in range(3):
        assert verify() == 1
    assert len(smtp_sink.messages) == 1

    add_bot(simulator, "support_bot")
    assert verify() == 0
    assert [m["Subject"] for m in smtp_sink.messages][1:] == [
        "[BotWatch] RESOLVED: support_bot on acme (was BOT_NOT_FOUND)"
    ]
    assert verify() == 0
    assert len(smtp_sink.messages) == 2
    assert_no_secret(smtp_sink.messages)


def test_rotated_token_alerts_only_after_its_threshold(simulator, smtp_sink):
    setup_portal(simulator)
    simulator.rotate_bot_token("acme", "support_bot", "rotated-elsewhere-1")
    assert verify() == 1
    assert smtp_sink.messages == []  # not_owner: 2 in a row
    assert verify() == 1
    [alert] = smtp_sink.messages
    assert alert["Subject"] == "[BotWatch] NOT_OWNER: support_bot on acme"
    assert "token was rotated" in smtp_sink.text_of(alert)
    assert_no_secret(smtp_sink.messages)


def test_five_bots_removed_together_yield_one_email(simulator, smtp_sink):
    setup_portal(simulator, bots=list(TOKENS))
    assert verify() == 0
    for code in TOKENS:
        simulator.remove_bot("acme", code)
    assert verify() == 1
    [alert] = smtp_sink.messages
    assert alert["Subject"] == "[BotWatch] BOT_NOT_FOUND: 5 bots on acme"
    text = smtp_sink.text_of(alert)
    assert all(f"== {code} on acme: BOT_NOT_FOUND ==" in text for code in TOKENS)
    assert_no_secret(smtp_sink.messages)


def test_smtp_down_then_up_delivers_once(simulator, smtp_sink):
    setup_portal(simulator)
    smtp_sink.stop()
    simulator.remove_bot("acme", "support_bot")
    assert verify() == 1
    notification = Notification.objects.get()
    assert notification.state == "pending" and "SMTP server unavailable" in notification.error

    assert verify() == 1  # the outage lasts a sweep: nothing new, nothing lost
    smtp_sink.start()
    # Time passes until the retry is due; then beat's retry sweep runs (eagerly here) twice.
    Notification.objects.update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    app.conf.task_always_eager = True
    try:
        assert retry_pending.apply().get() == 1
        assert retry_pending.apply().get() == 0
    finally:
        app.conf.task_always_eager = False
    [alert] = smtp_sink.wait_for(1)
    assert alert["Subject"] == "[BotWatch] BOT_NOT_FOUND: support_bot on acme"
    notification.refresh_from_db()
    assert (notification.state, notification.attempts) == ("sent", 2)
    assert len(smtp_sink.messages) == 1
