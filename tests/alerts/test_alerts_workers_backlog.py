"""A growing event backlog through real `celery worker` processes on Redis and PostgreSQL, the
simulator over HTTP and a real SMTP server: one email when it passes its threshold, not one per sweep."""

import pytest

from checks.models import Bot, Incident, Notification
from tests.alerts.helpers import simulator_portal
from tests.alerts.test_alerts_workers import settle, start_workers, sweep

pytestmark = [pytest.mark.slow]

HOOK = "hook-s3cret-b4ckl0g"
TOKEN = "queue-token-8d2e71"


def test_a_backlog_growing_past_its_threshold_sends_exactly_one_email(celery_procs, simulator, smtp_sink):
    portal = simulator_portal(simulator, "acme", HOOK)
    simulator.add_bot("acme", code="queue_bot", bot_token=TOKEN, growth=False, event_mode="fetch")
    bot = Bot.objects.create(portal=portal, code="queue_bot", bot_token=TOKEN, backlog_minutes=1)
    start_workers(celery_procs, smtp_sink)
    simulator.add_events("acme", "queue_bot", count=4, age_s=30)
    sweep(bot)  # 30 s old: under the minute allowed
    for age_s in (90, 300, 600):  # the backend stays down: the oldest event keeps ageing
        simulator.set_oldest_event_age("acme", "queue_bot", age_s)
        sweep(bot)
    settle(smtp_sink, 1)
    [email] = smtp_sink.messages
    assert email["Subject"] == "[BotWatch] DEGRADED (event_backlog): queue_bot on acme"
    assert "oldest pending event is 5 min old (threshold 1 min)" in email.get_body(("plain",)).get_content()
    assert Notification.objects.count() == 1 and Incident.objects.get().status == "degraded"
    bot.refresh_from_db()
    assert bot.event_backlog_s >= 600
