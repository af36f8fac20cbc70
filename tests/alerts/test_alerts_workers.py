"""Alerts through real `celery worker` processes on Redis and PostgreSQL, the simulator over
HTTP and a real SMTP server: the workers verify, open incidents and deliver the emails."""

import socket
import time
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from checks.alerts.actions import acknowledge
from checks.alerts.tasks import deliver_notification, retry_pending, send_reminders
from checks.engine.dispatch import dispatch_due
from checks.models import Bot, Incident, Notification
from tests.alerts.helpers import simulator_portal
from tests.fixtures.celery_worker import wait_for
from tests.fixtures.history import all_checks, checks_of

pytestmark = [pytest.mark.slow]

HOOK = "hook-s3cret-w0rk3r"
TOKEN = "support-token-5e1f0c"


def setup_portal(simulator) -> Bot:
    portal = simulator_portal(simulator, "acme", HOOK)
    simulator.add_bot("acme", code="support_bot", bot_token=TOKEN, growth=False)
    return Bot.objects.create(portal=portal, code="support_bot", bot_token=TOKEN)


def start_workers(celery_procs, smtp_sink, names=("w1",)) -> None:
    celery_procs.env.update(smtp_sink.env)
    for name in names:
        celery_procs.start_worker(name, concurrency=4, wait=False)
    for name in names:
        celery_procs.wait_ready(f"worker:{name}@{socket.gethostname()}", name)


def sweep(bot: Bot) -> None:
    """What beat does when the bot is due: claim its portal and hand it to a worker; then wait."""
    before = len(checks_of(bot))
    Bot.objects.filter(pk=bot.pk).update(next_check_at=timezone.now())
    assert dispatch_due() == 1
    wait_for(lambda: len(checks_of(bot)) > before, 30, "the worker's verification")


def settle(smtp_sink, count: int) -> None:
    """Waits for `count` emails, then a moment more: a duplicate would arrive within it."""
    smtp_sink.wait_for(count, timeout=30)
    time.sleep(1.5)
    assert len(smtp_sink.messages) == count, [m["Subject"] for m in smtp_sink.messages]


def test_workers_send_one_alert_for_a_removed_bot_and_one_recovery(celery_procs, simulator, smtp_sink):
    bot = setup_portal(simulator)
    start_workers(celery_procs, smtp_sink)
    sweep(bot)
    simulator.remove_bot("acme", "support_bot")
    sweep(bot)
    settle(smtp_sink, 1)
    assert smtp_sink.messages[0]["Subject"] == "[BotWatch] BOT_NOT_FOUND: support_bot on acme"

    for _ in range(3):
        sweep(bot)
    settle(smtp_sink, 1)

    simulator.add_bot("acme", code="support_bot", bot_token=TOKEN, growth=False)
    sweep(bot)
    settle(smtp_sink, 2)
    assert smtp_sink.messages[1]["Subject"] == "[BotWatch] RESOLVED: support_bot on acme (was BOT_NOT_FOUND)"
    for message in smtp_sink.messages:
        assert HOOK not in message.as_string() and TOKEN not in message.as_string()
    assert set(Notification.objects.values_list("state", flat=True)) == {"sent"}


def test_smtp_outage_then_two_workers_racing_deliver_once(celery_procs, simulator, smtp_sink):
    bot = setup_portal(simulator)
    start_workers(celery_procs, smtp_sink, names=("w1", "w2"))
    smtp_sink.stop()
    simulator.remove_bot("acme", "support_bot")
    sweep(bot)
    wait_for(lambda: Notification.objects.filter(attempts__gte=1, error__contains="unavailable").exists(), 30,
             "the first, failed attempt")  # fmt: skip
    notification = Notification.objects.get()
    assert notification.state == "pending"

    smtp_sink.start()
    # The retry is due; then every way of sending it fires at once on two workers: beat's
    # retry sweep twice and a pile of redelivered delivery tasks, besides the task's own retry.
    Notification.objects.update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    for _ in range(2):
        retry_pending.delay()
    for _ in range(10):
        deliver_notification.delay(notification.pk)
    settle(smtp_sink, 1)
    notification.refresh_from_db()
    assert notification.state == "sent" and notification.error == ""
    assert smtp_sink.messages[0]["Subject"] == "[BotWatch] BOT_NOT_FOUND: support_bot on acme"


def add_portal(simulator, name: str, codes: list[str]) -> list[Bot]:
    portal = simulator_portal(simulator, name, HOOK, alert_emails=[])
    bots = []
    for code in codes:
        simulator.add_bot(name, code=code, bot_token=f"{TOKEN}-{code}", growth=False)
        bots.append(Bot.objects.create(portal=portal, code=code, bot_token=f"{TOKEN}-{code}"))
    return bots


def sweep_all(bots: list[Bot], portals: int) -> None:
    before = len(all_checks())
    Bot.objects.update(next_check_at=timezone.now())
    assert dispatch_due() == portals
    wait_for(lambda: len(all_checks()) >= before + len(bots), 30, "the workers' verifications")


def test_workers_group_a_portal_wait_for_thresholds_and_skip_acknowledged_reminders(celery_procs, simulator, smtp_sink):
    acme = add_portal(simulator, "acme", [f"bot_{i}" for i in range(5)])
    [globex] = add_portal(simulator, "globex", ["support_bot"])
    bots = [*acme, globex]
    start_workers(celery_procs, smtp_sink)
    sweep_all(bots, 2)

    for bot in acme:  # the app that registered them was uninstalled
        simulator.remove_bot("acme", bot.code)
    simulator.rotate_bot_token("globex", "support_bot", "rotated-elsewhere")
    sweep_all(bots, 2)
    settle(smtp_sink, 1)  # globex's not_owner waits for its second failure
    assert smtp_sink.messages[0]["Subject"] == "[BotWatch] BOT_NOT_FOUND: 5 bots on acme"

    sweep_all(bots, 2)
    settle(smtp_sink, 2)
    assert smtp_sink.messages[1]["Subject"] == "[BotWatch] NOT_OWNER: support_bot on globex"

    # A day later: acme's incidents are acknowledged, globex's is not; beat's reminder sweep runs.
    user = get_user_model().objects.create(username="ann")
    for incident in Incident.objects.filter(portal__name="acme"):
        assert acknowledge(incident, user, note="customer is reinstalling the app")
    Incident.objects.update(opened_at=timezone.now() - timedelta(hours=25))
    send_reminders.delay()
    settle(smtp_sink, 3)
    assert smtp_sink.messages[2]["Subject"] == "[BotWatch] Still failing: NOT_OWNER: support_bot on globex"
    for message in smtp_sink.messages:
        assert HOOK not in message.as_string() and TOKEN not in message.as_string()
