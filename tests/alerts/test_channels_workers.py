"""Channels through real `celery worker` processes on Redis and PostgreSQL: the workers verify the
simulator's portal, open and resolve the incident and post to a json:// receiver in the test."""

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from checks.alerts.tasks import deliver_channel, retry_pending
from checks.models import ChannelDelivery, Notification
from tests.alerts.test_alerts_workers import TOKEN, setup_portal, start_workers, sweep
from tests.fixtures.celery_worker import wait_for

pytestmark = [pytest.mark.slow]


def settle(receiver, count: int) -> None:
    """Waits for `count` posts, then a moment more: a duplicate would arrive within it."""
    receiver.wait_for(count, timeout=30)
    time.sleep(1.5)
    assert len(receiver.posts) == count, receiver.titles()


def test_receiver_down_then_two_workers_racing_post_once_per_incident_and_recovery(
    celery_procs, simulator, smtp_sink, webhook_receiver
):
    bot = setup_portal(simulator)
    bot.portal.notify = [webhook_receiver.url("s3cret-w0rker-hook")]
    bot.portal.save()
    start_workers(celery_procs, smtp_sink, names=("w1", "w2"))
    webhook_receiver.stop()
    simulator.remove_bot("acme", "support_bot")
    sweep(bot)
    wait_for(lambda: ChannelDelivery.objects.filter(attempts__gte=1, error__contains="Connection error").exists(),
             30, "the first, failed attempt")  # fmt: skip
    row = ChannelDelivery.objects.get()
    assert row.state == "pending"
    smtp_sink.wait_for(1, timeout=30)  # the email did not wait for the channel

    webhook_receiver.start()
    # The retry is due; then every way of sending it fires at once on two workers.
    ChannelDelivery.objects.update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    for _ in range(2):
        retry_pending.delay()
    for _ in range(10):
        deliver_channel.delay(row.pk)
    settle(webhook_receiver, 1)
    assert webhook_receiver.titles() == ["[BotWatch] BOT_NOT_FOUND: support_bot on acme"]

    simulator.add_bot("acme", code="support_bot", bot_token=TOKEN, growth=False)
    sweep(bot)
    settle(webhook_receiver, 2)
    assert webhook_receiver.titles()[1] == "[BotWatch] RESOLVED: support_bot on acme (was BOT_NOT_FOUND)"
    assert set(ChannelDelivery.objects.values_list("state", flat=True)) == {"sent"}
    assert set(Notification.objects.values_list("state", flat=True)) == {"sent"}
    for post in webhook_receiver.posts:
        assert TOKEN not in str(post.body)
    log = (celery_procs.logs / "w1.log").read_text() + (celery_procs.logs / "w2.log").read_text()
    assert "s3cret-w0rker-hook" not in log
