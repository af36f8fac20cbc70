"""Incidents and alert emails, service level: verifications recorded as the engine records them,
evaluated, and delivered to a real SMTP server (aiosmtpd)."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.utils import timezone

from checks.alerts import actions, delivery
from checks.alerts.incidents import send_reminders
from checks.alerts.tasks import deliver_notification
from checks.models import Incident, IncidentEvent, MaintenanceWindow, Notification, Subscription
from checks.status import Status
from tests.alerts.helpers import (
    BOT_TOKEN,
    T0,
    WEBHOOK_CODE,
    evaluate_verifications,
    incident_timeline,
    list_incidents,
    make_bot,
    make_portal,
    minutes,
    record,
    sweep,
)

pytestmark = pytest.mark.django_db
Kind = IncidentEvent.Kind


@pytest.fixture
def portal(db):
    return make_portal()


@pytest.fixture
def bot(portal):
    return make_bot(portal)


def subjects(sink) -> list[str]:
    return [m["Subject"] for m in sink.messages]


def test_removed_bot_yields_one_email_with_what_support_needs(bot, smtp_sink):
    sweep([bot], Status.OK, T0)
    sweep([bot], Status.NOT_FOUND, T0 + minutes(5))

    [message] = smtp_sink.wait_for(1)
    assert message["Subject"] == "[BotWatch] BOT_NOT_FOUND: support_bot on acme"
    assert message["To"] == "support@example.com"
    text = smtp_sink.text_of(message)
    for expected in [
        "acme (https://acme.bitrix24.com)",
        "support_bot",
        "Error code:        BOT_NOT_FOUND",
        "Description:       Bot not found",
        "HTTP status:       400",
        "Failing since:     2026-11-25 09:05 UTC",
        "Last good check:   2026-11-25 09:00 UTC",
        "150 messages, 3 commands, 12 chats, 45 users",
        "application that registered the bot was uninstalled",
        f"http://127.0.0.1:8000/bots/{bot.pk}/",
    ]:
        assert expected in text, expected
    html = smtp_sink.html_of(message)
    assert f'href="http://127.0.0.1:8000/bots/{bot.pk}/"' in html
    assert "BOT_NOT_FOUND" in html
    notification = Notification.objects.get()
    assert (notification.state, notification.attempts, notification.kind) == ("sent", 1, Kind.OPENED)
    assert notification.key == f"opened:{Incident.objects.get().pk}"


def test_three_more_failing_sweeps_send_nothing_more(bot, smtp_sink):
    for i in range(4):
        sweep([bot], Status.NOT_FOUND, T0 + minutes(5 * i))
    assert len(smtp_sink.messages) == 1
    incident = Incident.objects.get()
    assert (incident.state, incident.status, incident.started_at) == ("open", Status.NOT_FOUND, T0)
    assert list(incident.events.values_list("kind", flat=True)) == [Kind.OPENED]


def test_bot_back_yields_one_recovery_email(bot, smtp_sink):
    sweep([bot], Status.NOT_FOUND, T0)
    sweep([bot], Status.NOT_FOUND, T0 + minutes(5))
    sweep([bot], Status.OK, T0 + minutes(125))
    sweep([bot], Status.OK, T0 + minutes(130))

    messages = smtp_sink.wait_for(2)
    assert len(messages) == 2
    assert messages[1]["Subject"] == "[BotWatch] RESOLVED: support_bot on acme (was BOT_NOT_FOUND)"
    text = smtp_sink.text_of(messages[1])
    assert "down for 2 h 5 min" in text
    assert "Resolved at:       2026-11-25 11:05 UTC" in text
    incident = Incident.objects.get()
    assert (incident.state, incident.resolved_at) == ("resolved", T0 + minutes(125))


def test_non_owner_token_alerts_only_after_its_threshold(bot, smtp_sink):
    sweep([bot], Status.NOT_OWNER, T0)
    assert smtp_sink.messages == [] and not Incident.objects.exists()
    sweep([bot], Status.NOT_OWNER, T0 + minutes(5))
    [message] = smtp_sink.wait_for(1)
    assert message["Subject"] == "[BotWatch] NOT_OWNER: support_bot on acme"
    assert "token was rotated" in smtp_sink.text_of(message)


def test_portal_threshold_overrides_the_default(portal, bot, smtp_sink):
    portal.thresholds = {"not_owner": 3}
    portal.save()
    sweep([bot], Status.NOT_OWNER, T0)
    sweep([bot], Status.NOT_OWNER, T0 + minutes(5))
    assert smtp_sink.messages == []
    sweep([bot], Status.NOT_OWNER, T0 + minutes(10))
    assert len(smtp_sink.wait_for(1)) == 1


def test_one_good_answer_between_failures_restarts_the_count(bot, smtp_sink):
    sweep([bot], Status.NOT_OWNER, T0)
    sweep([bot], Status.OK, T0 + minutes(5))
    sweep([bot], Status.NOT_OWNER, T0 + minutes(10))
    assert smtp_sink.messages == [] and not Incident.objects.exists()


def test_worse_status_escalates_once_and_a_milder_one_is_recorded_silently(bot, smtp_sink):
    for i in range(3):
        sweep([bot], Status.RATE_LIMITED, T0 + minutes(i))
    sweep([bot], Status.NOT_FOUND, T0 + minutes(3))
    sweep([bot], Status.NOT_FOUND, T0 + minutes(4))
    sweep([bot], Status.RATE_LIMITED, T0 + minutes(5))
    sweep([bot], Status.NOT_FOUND, T0 + minutes(6))

    assert subjects(smtp_sink) == [
        "[BotWatch] QUERY_LIMIT_EXCEEDED: support_bot on acme",
        "[BotWatch] Worse: BOT_NOT_FOUND: support_bot on acme (was QUERY_LIMIT_EXCEEDED)",
    ]
    incident = Incident.objects.get()
    assert (incident.status, incident.last_status, incident.started_at) == (Status.NOT_FOUND, Status.NOT_FOUND, T0)
    assert list(incident.events.values_list("kind", flat=True)) == [
        Kind.OPENED,
        Kind.ESCALATED,
        Kind.CHANGED,
        Kind.CHANGED,
    ]


def test_bots_of_one_portal_failing_in_one_sweep_share_one_email(portal, smtp_sink):
    bots = [make_bot(portal, f"bot_{i}", bot_token=f"token-{i}-abcdef") for i in range(5)]
    sweep(bots, Status.OK, T0)
    sweep(bots, Status.NOT_FOUND, T0 + minutes(5))

    [message] = smtp_sink.wait_for(1)
    assert message["Subject"] == "[BotWatch] BOT_NOT_FOUND: 5 bots on acme"
    text = smtp_sink.text_of(message)
    assert all(f"== bot_{i} on acme: BOT_NOT_FOUND ==" in text for i in range(5))
    assert Incident.objects.filter(state="open").count() == 5
    assert Notification.objects.get().events.count() == 5

    sweep(bots, Status.OK, T0 + minutes(10))
    messages = smtp_sink.wait_for(2)
    assert messages[1]["Subject"] == "[BotWatch] RESOLVED: 5 bots on acme (was BOT_NOT_FOUND)"


def test_portals_are_never_mixed_in_one_email(smtp_sink):
    bots = [make_bot(make_portal(name), "support_bot") for name in ("acme", "globex")]
    sweep(bots, Status.NOT_FOUND, T0)
    assert sorted(subjects(smtp_sink)) == [
        "[BotWatch] BOT_NOT_FOUND: support_bot on acme",
        "[BotWatch] BOT_NOT_FOUND: support_bot on globex",
    ]


def test_evaluating_the_same_verifications_again_sends_nothing_twice(bot, smtp_sink):
    row = record(bot, Status.NOT_FOUND, T0)
    first = evaluate_verifications([row.pk], inline=True)
    again = evaluate_verifications([row.pk], inline=True)
    assert len(first) == 1 and again == []
    assert len(smtp_sink.messages) == 1


def test_an_older_verification_evaluated_late_changes_nothing(bot, smtp_sink):
    old = record(bot, Status.NOT_FOUND, T0)
    record(bot, Status.OK, T0 + minutes(5))
    assert evaluate_verifications([old.pk], inline=True) == []
    assert smtp_sink.messages == [] and not Incident.objects.exists()


def test_worker_path_enqueues_delivery_after_the_commit(bot, smtp_sink, django_capture_on_commit_callbacks):
    from dashboard.celery import app

    row = record(bot, Status.NOT_FOUND, T0)
    app.conf.task_always_eager = True
    try:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            [pk] = evaluate_verifications([row.pk], inline=False)
        assert smtp_sink.messages == [] and Notification.objects.get(pk=pk).state == "pending"
        assert len(callbacks) == 1
        callbacks[0]()  # the commit: deliver_notification runs (eagerly here)
    finally:
        app.conf.task_always_eager = False
    assert len(smtp_sink.wait_for(1)) == 1
    assert Notification.objects.get(pk=pk).state == "sent"


def test_smtp_outage_delays_the_alert_and_it_is_delivered_once(bot, smtp_sink):
    smtp_sink.stop()
    [pk] = sweep([bot], Status.NOT_FOUND, T0)
    notification = Notification.objects.get(pk=pk)
    assert notification.state == "pending" and notification.attempts == 1
    assert "SMTP server unavailable" in notification.error and "ConnectionRefusedError" in notification.error
    assert notification.next_attempt_at > timezone.now()
    # Not due yet: the sweep leaves it alone.
    assert delivery.due_for_retry() == []

    later = timezone.now() + timedelta(hours=1)
    assert delivery.deliver(pk, now=later) == "pending"  # still down: kept, not dropped
    smtp_sink.start()
    for _ in range(2):  # the retry sweep, twice: the second finds nothing to send
        for due in delivery.due_for_retry(now=later + timedelta(hours=1)):
            delivery.deliver(due)
    assert len(smtp_sink.wait_for(1)) == 1
    notification.refresh_from_db()
    assert (notification.state, notification.attempts, notification.error) == ("sent", 3, "")


def test_refused_recipient_is_a_permanent_failure(portal, bot, smtp_sink):
    portal.alert_emails = ["nobody@reject.invalid"]
    portal.save()
    [pk] = sweep([bot], Status.NOT_FOUND, T0)
    notification = Notification.objects.get(pk=pk)
    assert notification.state == "failed"
    assert "nobody@reject.invalid (550)" in notification.error
    assert delivery.due_for_retry(now=timezone.now() + timedelta(days=1)) == []


def test_an_email_with_no_recipients_waits_until_someone_is_named(portal, bot, smtp_sink, settings):
    settings.BOTWATCH_ALERT_EMAILS = []
    portal.alert_emails = []
    portal.save()
    [pk] = sweep([bot], Status.NOT_FOUND, T0)
    notification = Notification.objects.get(pk=pk)
    assert notification.state == "pending" and "no recipients" in notification.error
    assert smtp_sink.messages == []
    portal.alert_emails = ["oncall@example.com"]
    portal.save()
    later = timezone.now() + timedelta(days=1)
    assert delivery.due_for_retry(now=later) == [pk]
    assert delivery.deliver(pk, now=later) == "sent"
    assert [m["To"] for m in smtp_sink.wait_for(1)] == ["oncall@example.com"]
    assert Notification.objects.get(pk=pk).recipients == ["oncall@example.com"]


def test_a_claimed_notification_is_not_sent_by_another_worker(bot, smtp_sink):
    smtp_sink.stop()
    [pk] = sweep([bot], Status.NOT_FOUND, T0)
    smtp_sink.start()
    now = timezone.now()
    assert delivery.claim(pk, now)  # a worker holds the lease ...
    assert delivery.deliver(pk, now=now) == "skipped"  # ... so another one skips it
    assert smtp_sink.messages == []
    # The holder crashed before recording anything: once the lease runs out, it is sent.
    after_lease = now + timedelta(seconds=delivery.lease_seconds() + 1)
    assert delivery.deliver(pk, now=after_lease) == "sent"
    assert len(smtp_sink.wait_for(1)) == 1


def test_deliver_task_sends_once_when_redelivered(bot, smtp_sink):
    smtp_sink.stop()
    [pk] = sweep([bot], Status.NOT_FOUND, T0)
    smtp_sink.start()
    Notification.objects.filter(pk=pk).update(next_attempt_at=timezone.now())
    assert deliver_notification.apply(args=[pk]).get() == "sent"
    assert deliver_notification.apply(args=[pk]).get() == "skipped"
    assert len(smtp_sink.wait_for(1)) == 1


def test_recipients_are_the_portal_list_else_the_default_plus_subscribers(portal, bot, smtp_sink, settings):
    user_model = get_user_model()
    Subscription.objects.create(user=user_model.objects.create(username="ann", email="ann@example.com"), portal=portal)
    Subscription.objects.create(user=user_model.objects.create(username="bob", email="bob@example.com"), portal=None)
    Subscription.objects.create(
        user=user_model.objects.create(username="gone", email="gone@example.com", is_active=False), portal=portal
    )
    sweep([bot], Status.NOT_FOUND, T0)
    assert smtp_sink.envelopes[0][1] == ["support@example.com", "ann@example.com", "bob@example.com"]

    portal.alert_emails = []
    portal.save()
    sweep([bot], Status.OK, T0 + minutes(5))
    assert smtp_sink.wait_for(2) and smtp_sink.envelopes[1][1] == [
        "oncall@example.com",
        "ann@example.com",
        "bob@example.com",
    ]


def test_emails_never_contain_a_secret(portal, bot, smtp_sink):
    portal.oauth_client_secret = "client-secret-xyz-777"
    portal.save()
    # A server error page that echoes the request: the engine keeps descriptions verbatim.
    leaky = (
        f"upstream said: /rest/1/{WEBHOOK_CODE}/imbot.v2.Bot.get?botToken={BOT_TOKEN} <b>&</b> client-secret-xyz-777"
    )
    sweep([bot], Status.NOT_FOUND, T0, description=leaky)
    sweep([bot], Status.OK, T0 + minutes(5))
    messages = smtp_sink.wait_for(2)
    assert "upstream said: /rest/1/[redacted]/imbot.v2.Bot.get" in smtp_sink.text_of(messages[0])
    for message in messages:
        raw = message.as_string()
        for secret in (WEBHOOK_CODE, BOT_TOKEN, "client-secret-xyz-777"):
            assert secret not in raw
            assert secret not in smtp_sink.text_of(message) and secret not in smtp_sink.html_of(message)
    for notification in Notification.objects.all():
        assert BOT_TOKEN not in notification.text_body + notification.html_body + notification.subject


def test_an_undecryptable_token_leaves_the_other_secrets_scrubbed(portal, bot, smtp_sink, caplog):
    broken = make_bot(portal, code="legacy_bot", bot_token="other-token-4242")
    with connection.cursor() as cursor:
        # As if stored under a key since removed from BOTWATCH_SECRET_KEYS.
        cursor.execute("UPDATE checks_bot SET bot_token = %s WHERE id = %s", ["fernet:gone", broken.pk])
    sweep([bot], Status.NOT_FOUND, T0, description=f"upstream said: botToken={BOT_TOKEN}")
    [message] = smtp_sink.wait_for(1)
    assert BOT_TOKEN not in message.as_string()
    assert "upstream said: botToken=[redacted]" in smtp_sink.text_of(message)
    assert "a bot token cannot be decrypted" in caplog.text


# --- Reminders, acknowledgement, mute, maintenance ------------------------------------------


def test_reminder_every_period_while_open_and_not_after_acknowledgement(bot, smtp_sink, settings):
    settings.BOTWATCH_REMINDER_HOURS = 24
    start = timezone.now() - timedelta(hours=25)
    sweep([bot], Status.NOT_FOUND, start)
    assert send_reminders(now=start + timedelta(hours=23), inline=True) == []
    assert len(send_reminders(now=start + timedelta(hours=24, minutes=1), inline=True)) == 1
    assert send_reminders(now=start + timedelta(hours=24, minutes=6), inline=True) == []  # the next sweep: nothing

    messages = smtp_sink.wait_for(2)
    assert messages[1]["Subject"] == "[BotWatch] Still failing: BOT_NOT_FOUND: support_bot on acme"
    assert "nobody has acknowledged it" in smtp_sink.text_of(messages[1])

    user = get_user_model().objects.create(username="ann")
    incident = Incident.objects.get()
    assert actions.acknowledge(incident, user, note="customer reinstalls the app")
    assert not actions.acknowledge(incident, user)  # once
    assert send_reminders(now=start + timedelta(hours=72), inline=True) == []
    assert len(smtp_sink.messages) == 2
    incident.refresh_from_db()
    assert (incident.acknowledged_by, incident.ack_note) == (user, "customer reinstalls the app")
    kinds = [(e.kind, e.user) for e in incident_timeline(incident)]
    assert kinds == [(Kind.OPENED, None), (Kind.REMINDER, None), (Kind.ACKNOWLEDGED, user)]


def test_reminders_are_off_with_zero_hours(bot, smtp_sink, settings):
    settings.BOTWATCH_REMINDER_HOURS = 0
    sweep([bot], Status.NOT_FOUND, T0)
    assert send_reminders(now=T0 + timedelta(days=5), inline=True) == []
    assert len(smtp_sink.messages) == 1


def test_reminders_of_one_portal_are_grouped(portal, smtp_sink):
    bots = [make_bot(portal, f"bot_{i}", bot_token=f"token-{i}-abcdef") for i in range(3)]
    sweep(bots, Status.NOT_FOUND, T0)
    [pk] = send_reminders(now=T0 + timedelta(hours=25), inline=True)
    assert Notification.objects.get(pk=pk).subject == "[BotWatch] Still failing: BOT_NOT_FOUND: 3 bots on acme"


def test_muted_portal_opens_silently_and_alerts_if_still_failing_when_the_mute_ends(portal, bot, smtp_sink):
    user = get_user_model().objects.create(username="ann")
    actions.mute_portal(portal, timezone.now() + timedelta(hours=1), user)
    sweep([bot], Status.NOT_FOUND, T0)
    sweep([bot], Status.NOT_FOUND, T0 + minutes(5))
    assert smtp_sink.messages == []
    incident = Incident.objects.get()
    assert incident.suppressed and incident.state == "open"  # history kept

    actions.mute_portal(portal, None, user)
    assert len(send_reminders(inline=True)) == 1
    assert send_reminders(inline=True) == []
    [message] = smtp_sink.wait_for(1)
    assert message["Subject"] == "[BotWatch] BOT_NOT_FOUND: support_bot on acme"
    assert "mute or maintenance window that has ended" in smtp_sink.text_of(message)


def test_incident_opened_and_closed_while_muted_sends_nothing(bot, smtp_sink):
    actions.mute_bot(bot, timezone.now() + timedelta(hours=1), None)
    sweep([bot], Status.NOT_FOUND, T0)
    actions.mute_bot(bot, None, None)
    sweep([bot], Status.OK, T0 + minutes(5))
    assert smtp_sink.messages == []
    assert Incident.objects.get().state == "resolved"


def test_maintenance_window_suppresses_alerts_but_keeps_history(portal, bot, smtp_sink):
    MaintenanceWindow.objects.create(portal=portal, starts_at=T0 - minutes(1), ends_at=T0 + minutes(30))
    sweep([bot], Status.NOT_FOUND, T0)
    sweep([bot], Status.OK, T0 + minutes(10))
    assert smtp_sink.messages == []
    assert Incident.objects.get().state == "resolved"
    assert Notification.objects.count() == 0
    # After the window the same failure alerts as usual.
    sweep([bot], Status.NOT_FOUND, T0 + minutes(40))
    assert len(smtp_sink.wait_for(1)) == 1


def test_maintenance_of_one_bot_leaves_the_others_alerting(portal, smtp_sink):
    quiet, loud = make_bot(portal, "quiet_bot", bot_token="tok-quiet-1"), make_bot(portal, "loud_bot", bot_token="t-2x")
    MaintenanceWindow.objects.create(portal=portal, bot=quiet, starts_at=T0 - minutes(1), ends_at=T0 + minutes(30))
    sweep([quiet, loud], Status.NOT_FOUND, T0)
    assert subjects(smtp_sink) == ["[BotWatch] BOT_NOT_FOUND: loud_bot on acme"]


def test_mute_rejects_a_time_in_the_past_or_without_zone(bot):
    with pytest.raises(ValueError, match="is in the past"):
        actions.mute_bot(bot, timezone.now() - timedelta(minutes=1), None)
    with pytest.raises(ValueError, match="not a timezone-aware"):
        actions.mute_bot(bot, timezone.now().replace(tzinfo=None) + timedelta(hours=1), None)


def test_mute_is_recorded_on_open_incidents(bot):
    sweep([bot], Status.NOT_FOUND, T0)
    user = get_user_model().objects.create(username="ann")
    until = timezone.now() + timedelta(hours=2)
    actions.mute_bot(bot, until, user)
    bot.refresh_from_db()
    assert bot.muted_until == until
    event = Incident.objects.get().events.get(kind=Kind.MUTED)
    assert (event.user, event.note) == (user, f"muted until {until.isoformat()}")


# --- Reads the tests use (tests/alerts/helpers.py) ----------------------------------------


def test_list_incidents_open_first_with_bounded_queries(portal, django_assert_max_num_queries):
    bots = [make_bot(portal, f"bot_{i}", bot_token=f"token-{i}-abcdef") for i in range(6)]
    sweep(bots, Status.NOT_FOUND, T0)
    sweep(bots[:3], Status.OK, T0 + minutes(5))
    with django_assert_max_num_queries(1):
        rows = [(i.state, i.bot.code, i.portal.name, i.acknowledged_by) for i in list_incidents()]
    assert [r[0] for r in rows] == ["open"] * 3 + ["resolved"] * 3
    assert list_incidents(state="resolved", portal=portal).count() == 3
    with pytest.raises(ValueError, match="'closed' is not one of open, resolved"):
        list_incidents(state="closed")


def test_timeline_lists_events_with_their_notifications(bot, smtp_sink):
    sweep([bot], Status.RATE_LIMITED, T0)
    sweep([bot], Status.RATE_LIMITED, T0 + minutes(1))
    sweep([bot], Status.RATE_LIMITED, T0 + minutes(2))
    sweep([bot], Status.NOT_FOUND, T0 + minutes(3))
    sweep([bot], Status.OK, T0 + minutes(4))
    timeline = incident_timeline(Incident.objects.get())
    assert [(e.kind, e.status) for e in timeline] == [
        (Kind.OPENED, Status.RATE_LIMITED),
        (Kind.ESCALATED, Status.NOT_FOUND),
        (Kind.RESOLVED, Status.OK),
    ]
    assert [[n.state for n in e.notifications.all()] for e in timeline] == [["sent"], ["sent"], ["sent"]]


def test_no_reminders_for_a_paused_portal(portal, bot, smtp_sink):
    sweep([bot], Status.NOT_FOUND, T0)
    portal.paused = True
    portal.save()
    assert send_reminders(now=T0 + timedelta(days=2), inline=True) == []
    assert len(smtp_sink.messages) == 1


def test_alert_emails_are_marked_auto_generated(bot, smtp_sink):
    sweep([bot], Status.NOT_FOUND, T0)
    [message] = smtp_sink.wait_for(1)
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["X-BotWatch-Notification"] == Notification.objects.get().key


def test_delivery_task_retries_then_leaves_the_row_to_the_sweep(bot, smtp_sink):
    smtp_sink.stop()
    [pk] = sweep([bot], Status.NOT_FOUND, T0)
    result = deliver_notification.apply(args=[pk])  # eager: each retry runs at once
    notification = Notification.objects.get(pk=pk)
    assert notification.state == "pending"
    assert notification.attempts == 1 + 1 + deliver_notification.max_retries
    assert result.get() == "pending"  # given up by the task, not by BotWatch
    # Backoff: the next attempt waits longer the more attempts failed, up to an hour.
    assert delivery.retry_delay(1) == 30 and delivery.retry_delay(3) == 120
    assert delivery.retry_delay(20) == 3600
    assert notification.next_attempt_at > timezone.now() + timedelta(seconds=30 * 2**5 - 5)
