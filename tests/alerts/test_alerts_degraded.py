"""Degraded bots alert like the others, through `manage.py verify` to a real SMTP server:
after two in a row, again when a new problem appears, at once for a backlog past 20 h."""

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from checks.models import Bot, Incident, Notification
from tests.alerts.helpers import simulator_portal

pytestmark = pytest.mark.django_db(transaction=True)

HOOK = "hook-s3cret-9e2a"
TOKEN = "queue-bot-token-5c1d"


def verify() -> int:
    try:
        call_command("verify", stdout=open("/dev/null", "w"))  # noqa: SIM115
    except CommandError as exc:
        return exc.returncode
    return 0


def setup(simulator, **bot_kwargs):
    portal = simulator_portal(simulator, "acme", HOOK)
    simulator.add_bot("acme", code="queue_bot", bot_token=TOKEN, event_mode="fetch")
    Bot.objects.create(portal=portal, code="queue_bot", bot_token=TOKEN, **bot_kwargs)
    assert verify() == 0  # learns the bot's configuration (fetch mode)
    return portal


def test_a_backlog_opens_one_incident_after_two_checks_with_its_guidance(simulator, smtp_sink):
    setup(simulator)
    simulator.add_events("acme", "queue_bot", count=12, age_s=3 * 3600)
    assert verify() == 1
    assert smtp_sink.messages == []  # degraded waits for the second
    assert verify() == 1
    [email] = smtp_sink.wait_for(1)
    assert email["Subject"] == "[BotWatch] DEGRADED (event_backlog): queue_bot on acme"
    body = email.get_body(preferencelist=("plain",)).get_content()
    assert "event_backlog: oldest pending event is 3 h old (threshold 15 min)" in body
    assert "stopped polling imbot.v2.Event.get" in body
    assert HOOK not in email.as_string() and TOKEN not in email.as_string()
    assert verify() == 1  # a third identical check: nothing new
    assert len(smtp_sink.messages) == 1
    simulator.clear_events("acme", "queue_bot")
    assert verify() == 0
    assert [m["Subject"] for m in smtp_sink.wait_for(2)][1].startswith("[BotWatch] RESOLVED: queue_bot on acme")


def test_a_new_problem_inside_the_incident_escalates_once(simulator, smtp_sink):
    setup(simulator, expect={"language": "en"})
    simulator.update_bot("acme", "queue_bot", {"language": "de"})
    verify()
    verify()
    assert len(smtp_sink.wait_for(1)) == 1
    simulator.set_bot_user_active("acme", "queue_bot", False)
    verify()
    [_, worse] = smtp_sink.wait_for(2)
    assert worse["Subject"] == "[BotWatch] Worse: DEGRADED (user_inactive, drift): queue_bot on acme"
    assert "New problem:       user_inactive" in worse.get_body(("plain",)).get_content()
    verify()
    assert len(smtp_sink.messages) == 2
    incident = Incident.objects.get()
    assert set(incident.problem_keys) == {"drift:language", "user_inactive"}
    assert Notification.objects.count() == 2


def test_a_backlog_past_20_hours_alerts_at_the_first_check(simulator, smtp_sink):
    setup(simulator)
    simulator.add_events("acme", "queue_bot", count=3, age_s=21 * 3600)
    assert verify() == 1
    [email] = smtp_sink.wait_for(1)
    assert "Bitrix24 deletes events after 24 h without notice" in email.get_body(("plain",)).get_content()
