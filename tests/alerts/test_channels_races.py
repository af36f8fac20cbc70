"""Channels under racing workers on PostgreSQL: threads with their own connections evaluate the same
state change and deliver the same rows at the same moment; the json:// receiver gets one post."""

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from checks.alerts import channel_delivery
from checks.models import ChannelDelivery
from checks.status import Status
from tests.alerts.helpers import T0, evaluate_verifications, make_bot, make_portal, minutes, record, sweep
from tests.alerts.test_alerts_races import race

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _channels(settings, webhook_receiver):
    settings.BOTWATCH_NOTIFY_URLS = [webhook_receiver.url("default")]


def test_workers_evaluating_one_incident_and_its_recovery_post_once_each(webhook_receiver):
    bot = make_bot(make_portal(notify=[webhook_receiver.url("acme")]))
    row = record(bot, Status.NOT_FOUND, T0)
    race(lambda: evaluate_verifications([row.pk], inline=True), workers=4)
    row = record(bot, Status.OK, T0 + minutes(5))
    race(lambda: evaluate_verifications([row.pk], inline=True), workers=4)

    webhook_receiver.wait_for(4)
    time.sleep(0.3)  # a duplicate would be on its way by now
    assert sorted((p.path, p.body["type"]) for p in webhook_receiver.posts) == [
        ("/acme", "failure"),
        ("/acme", "success"),
        ("/default", "failure"),
        ("/default", "success"),
    ]


def test_many_workers_delivering_one_channel_row_post_once(webhook_receiver):
    webhook_receiver.stop()
    sweep([make_bot(make_portal())], Status.NOT_FOUND, T0)  # first attempt fails: nobody listens
    webhook_receiver.start()
    [row] = ChannelDelivery.objects.all()
    due = timezone.now() + timedelta(minutes=5)

    results = race(lambda: channel_delivery.deliver_channel(row.pk, now=due), workers=8)

    assert sorted(results) == ["sent"] + ["skipped"] * 7
    time.sleep(0.3)
    assert len(webhook_receiver.wait_for(1)) == 1
    row.refresh_from_db()
    assert (row.state, row.attempts) == ("sent", 2)
