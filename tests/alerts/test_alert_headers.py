"""A CR or LF from a portal (an error code) or an admin (a bot code) never reaches an email header:
the alert goes out once, to its recipients only, instead of being retried for ever."""

import contextlib
import os

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from checks.alerts.delivery import deliver
from checks.models import Bot, Notification
from tests.alerts.helpers import make_portal, simulator_portal

pytestmark = pytest.mark.django_db(transaction=True)

HOOK = "hook-s3cret-8c1e"
TOKEN = "bot-token-77d2a1"
INJECTED = "X\r\nBcc: evil@example.com"


def verify() -> None:
    """`manage.py verify`; it exits 1 here (a bot is failing), which is not what these tests are about."""
    with contextlib.suppress(CommandError), open(os.devnull, "w") as out:
        call_command("verify", stdout=out)


def assert_clean(sink) -> None:
    [message] = sink.wait_for(1)
    assert "\r" not in message["Subject"] and "\n" not in message["Subject"]
    assert message["Bcc"] is None
    assert all("evil@example.com" not in rcpts for _, rcpts in sink.envelopes)
    assert sink.envelopes[0][1] == ["support@example.com"]
    notification = Notification.objects.get()
    assert (notification.state, notification.attempts) == (Notification.State.SENT, 1)
    assert "\r" not in notification.subject and "\n" not in notification.subject


def test_error_code_with_a_line_break_is_emailed_once(simulator, smtp_sink):
    portal = simulator_portal(simulator, "acme", HOOK)
    simulator.add_bot("acme", code="support_bot", bot_token=TOKEN)
    Bot.objects.create(portal=portal, code="support_bot", bot_token=TOKEN)
    simulator.inject_fault("acme", "custom", bot="support_bot", code=INJECTED, http_status=400, description="no")

    verify()
    verify()  # `error` alerts after 2 in a row

    assert_clean(smtp_sink)
    [message] = smtp_sink.messages
    assert message["Subject"].startswith("[BotWatch] X Bcc: evil@example.com: support_bot on acme")


def test_bot_code_with_a_line_break_is_emailed_once(simulator, smtp_sink):
    portal = simulator_portal(simulator, "acme", HOOK)
    # Written straight to the table, as before the forms refused such codes: the portal has no such bot.
    Bot.objects.create(portal=portal, code="gone\r\nBcc: evil@example.com", bot_token=TOKEN)

    verify()  # not_found alerts at once

    assert_clean(smtp_sink)


def test_a_row_written_before_the_fix_is_sent_cleaned(smtp_sink):
    portal = make_portal("acme")
    notification = Notification.objects.create(
        key="opened:1", portal=portal, kind="opened", recipients=["support@example.com"],
        subject=f"[BotWatch] {INJECTED}: support_bot on acme", text_body="text", html_body="<p>html</p>",
    )  # fmt: skip

    assert deliver(notification.pk) == Notification.State.SENT

    [message] = smtp_sink.wait_for(1)
    assert message["Subject"] == "[BotWatch] X Bcc: evil@example.com: support_bot on acme"
    assert message["Bcc"] is None
