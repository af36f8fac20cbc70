"""Alerts to channels, service level: Apprise's json:// against a real HTTP receiver in the test.

Every alert kind goes to email and to every channel, once per channel; the defaults, a portal's
own list (add or replace) and its routes decide which; a receiver that is down is retried.
"""

import logging
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from checks.alerts import channel_delivery
from checks.alerts.channels import targets_for
from checks.alerts.credentials import refresh_credential_warnings, send_credential_digest
from checks.alerts.incidents import send_reminders
from checks.models import ChannelDelivery, Notification, NotifyMode
from checks.status import Status
from tests.alerts.helpers import BOT_TOKEN, T0, WEBHOOK_CODE, make_bot, make_portal, minutes, sweep

pytestmark = pytest.mark.django_db
SECRET_PATH = "hook-s3cret-path-token"


@pytest.fixture(autouse=True)
def _no_default_channels(settings):
    settings.BOTWATCH_NOTIFY_URLS = []


def test_json_channel_gets_one_post_per_incident_and_one_per_recovery(webhook_receiver):
    portal = make_portal(notify=[webhook_receiver.url(SECRET_PATH)])
    bot = make_bot(portal)
    sweep([bot], Status.OK, T0)
    sweep([bot], Status.NOT_FOUND, T0 + minutes(5))
    for i in range(3):
        sweep([bot], Status.NOT_FOUND, T0 + minutes(10 + i))
    sweep([bot], Status.OK, T0 + minutes(20))

    posts = webhook_receiver.wait_for(2)
    assert webhook_receiver.titles() == [
        "[BotWatch] BOT_NOT_FOUND: support_bot on acme",
        "[BotWatch] RESOLVED: support_bot on acme (was BOT_NOT_FOUND)",
    ]
    assert [p.body["type"] for p in posts] == ["failure", "success"]
    assert {p.path for p in posts} == {f"/{SECRET_PATH}"}
    opened = posts[0].body["message"]
    assert "support_bot: BOT_NOT_FOUND: Bot not found; failing since 2026-11-25 09:05 UTC" in opened
    assert f"http://127.0.0.1:8000/bots/{bot.pk}/" in opened
    assert "What to do:" in opened
    assert "answers again after 15 min (was BOT_NOT_FOUND)" in posts[1].body["message"]
    for post in posts:
        assert WEBHOOK_CODE not in str(post.body) and BOT_TOKEN not in str(post.body)
    # The email went too, once each.
    assert [m.subject for m in mail.outbox] == webhook_receiver.titles()
    assert set(ChannelDelivery.objects.values_list("state", "attempts")) == {("sent", 1)}


def test_defaults_and_the_portal_list_add_or_replace(webhook_receiver, settings):
    settings.BOTWATCH_NOTIFY_URLS = [webhook_receiver.url("default"), webhook_receiver.url("shared")]
    adds = make_portal("acme", notify=[webhook_receiver.url("acme"), webhook_receiver.url("shared")])
    replaces = make_portal("globex", notify=[webhook_receiver.url("globex")], notify_mode=NotifyMode.REPLACE)
    plain = make_portal("initech")
    assert targets_for(adds).channels == [webhook_receiver.url(p) for p in ("default", "shared", "acme")]
    assert targets_for(replaces).channels == [webhook_receiver.url("globex")]
    assert targets_for(plain).channels == settings.BOTWATCH_NOTIFY_URLS

    # A code of its own per portal: one code missing on three portals would be a fleet wave.
    for portal in (adds, replaces, plain):
        sweep([make_bot(portal, f"{portal.name}_bot")], Status.NOT_FOUND, T0)

    webhook_receiver.wait_for(6)
    got = sorted((p.path, p.body["title"].rsplit(" on ", 1)[1]) for p in webhook_receiver.posts)
    assert got == [
        ("/acme", "acme"),
        ("/default", "acme"),
        ("/default", "initech"),
        ("/globex", "globex"),
        ("/shared", "acme"),
        ("/shared", "initech"),
    ]


def test_routes_send_a_status_class_elsewhere_emails_included(webhook_receiver):
    routes = {"auth_failed": [webhook_receiver.url("owner"), "owner@example.com"]}
    portal = make_portal(notify=[webhook_receiver.url("team")], routes=routes)
    missing, locked_out = make_bot(portal, "support_bot"), make_bot(portal, "sales_bot")
    sweep([missing], Status.NOT_FOUND, T0)
    sweep([locked_out], Status.AUTH_FAILED, T0)
    sweep([locked_out], Status.AUTH_FAILED, T0 + minutes(5))  # auth_failed alerts at its second failure

    webhook_receiver.wait_for(2)
    assert sorted((p.path, p.body["title"]) for p in webhook_receiver.posts) == [
        ("/owner", "[BotWatch] NO_AUTH_FOUND: sales_bot on acme"),
        ("/team", "[BotWatch] BOT_NOT_FOUND: support_bot on acme"),
    ]
    assert {m.subject: m.to for m in mail.outbox} == {
        "[BotWatch] BOT_NOT_FOUND: support_bot on acme": ["support@example.com"],
        "[BotWatch] NO_AUTH_FOUND: sales_bot on acme": ["owner@example.com"],
    }
    assert Notification.objects.get(subject__contains="sales_bot").route == "auth_failed"

    sweep([missing, locked_out], Status.OK, T0 + minutes(10))  # one sweep, two routes: two recoveries
    webhook_receiver.wait_for(4)
    assert sorted(p.path for p in webhook_receiver.posts[2:]) == ["/owner", "/team"]


def test_a_receiver_that_is_down_is_retried_and_gets_it_once(webhook_receiver, caplog):
    caplog.set_level(logging.DEBUG)
    portal = make_portal(notify=[webhook_receiver.url(SECRET_PATH)])
    webhook_receiver.stop()
    sweep([make_bot(portal)], Status.NOT_FOUND, T0)

    row = ChannelDelivery.objects.get()
    assert (row.state, row.attempts) == ("pending", 1)
    assert "A Connection error occurred sending JSON notification to 127.0.0.1" in row.error
    assert row.next_attempt_at > timezone.now() + timedelta(seconds=20)  # 30 s, then doubling
    assert row.label.startswith("json://127.0.0.1 #")
    assert Notification.objects.get().state == "sent"  # the email is not held up by the channel

    later = timezone.now() + timedelta(minutes=1)
    assert channel_delivery.due_for_retry(later) == [row.pk]
    assert channel_delivery.deliver_channel(row.pk, now=later) == "pending"  # still down: attempt 2
    webhook_receiver.start()
    much_later = later + timedelta(minutes=5)
    assert channel_delivery.due_for_retry(much_later) == [row.pk]
    assert channel_delivery.deliver_channel(row.pk, now=much_later) == "sent"
    assert channel_delivery.deliver_channel(row.pk, now=much_later) == "skipped"
    assert channel_delivery.due_for_retry(much_later) == []

    assert len(webhook_receiver.wait_for(1)) == 1
    row.refresh_from_db()
    assert (row.state, row.attempts, row.error) == ("sent", 3, "")
    assert SECRET_PATH not in caplog.text
    assert SECRET_PATH not in str(list(ChannelDelivery.objects.values("error", "label", "fingerprint")))


def test_a_refusing_receiver_fails_for_good_and_a_day_of_outage_gives_up(webhook_receiver):
    portal = make_portal(notify=[webhook_receiver.url(SECRET_PATH)])
    webhook_receiver.answer(404)
    sweep([make_bot(portal)], Status.NOT_FOUND, T0)
    row = ChannelDelivery.objects.get()
    assert row.state == "failed" and "error=404" in row.error and row.attempts == 1

    webhook_receiver.answer(503)
    sweep([make_bot(portal, "sales_bot")], Status.NOT_FOUND, T0)
    row = ChannelDelivery.objects.exclude(pk=row.pk).get()
    assert row.state == "pending" and "error=503" in row.error
    ChannelDelivery.objects.filter(pk=row.pk).update(created_at=timezone.now() - timedelta(hours=25))
    assert channel_delivery.deliver_channel(row.pk, now=timezone.now() + timedelta(hours=1)) == "failed"
    row.refresh_from_db()
    assert row.error.startswith("gave up after 24 h: ")
    assert webhook_receiver.refused == 3 and webhook_receiver.posts == []


def test_with_only_channels_no_email_is_owed(webhook_receiver, settings):
    settings.BOTWATCH_ALERT_EMAILS = []
    portal = make_portal(alert_emails=[], notify=[webhook_receiver.url()])
    sweep([make_bot(portal)], Status.NOT_FOUND, T0)
    webhook_receiver.wait_for(1)
    notification = Notification.objects.get()
    assert (notification.state, notification.error) == ("skipped", "")
    assert mail.outbox == []


def test_reminders_and_the_credential_digest_go_to_channels_too(webhook_receiver, settings):
    settings.BOTWATCH_NOTIFY_URLS = [webhook_receiver.url("default")]
    portal = make_portal()
    bot = make_bot(portal, bot_token="t" * 45)  # over 40 characters: a credential warning
    sweep([bot], Status.NOT_FOUND, T0)
    send_reminders(T0 + timedelta(hours=25), inline=True)
    refresh_credential_warnings()
    send_credential_digest(inline=True)
    send_credential_digest(inline=True)  # the same week: nothing more

    webhook_receiver.wait_for(3)
    assert webhook_receiver.titles() == [
        "[BotWatch] BOT_NOT_FOUND: support_bot on acme",
        "[BotWatch] Still failing: BOT_NOT_FOUND: support_bot on acme",
        "[BotWatch] Weekly credential digest: 1 warning on 1 portal",
    ]
    digest = webhook_receiver.posts[2].body
    assert digest["type"] == "warning" and "acme: support_bot: bot token is 45 characters" in digest["message"]
    assert "t" * 45 not in digest["message"]
    assert ChannelDelivery.objects.count() == 3
