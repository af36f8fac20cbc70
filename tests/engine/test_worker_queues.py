"""Alert delivery and beat's ticks never wait behind verifications: each kind of task has a queue
of its own, a plain `celery -A dashboard worker` consumes them all with the threads pool, and
the scheduler leaves threads free for alerts and ticks however many portals hang."""

import socket

import pytest
from django.utils import timezone

from checks.engine import verify
from checks.models import Bot, Heartbeat
from dashboard.celery import app
from tests.alerts.helpers import simulator_portal
from tests.fixtures.celery_worker import wait_for

HOOK = "hook-s3cret-queues"
QUEUES = {"verify", "alerts", "ticks", "probes", "maintenance", "celery"}


@pytest.mark.parametrize(
    ("task", "queue"),
    [
        ("checks.engine.tasks.verify_portal", "verify"),
        ("checks.engine.tasks.dispatch_due", "ticks"),
        ("checks.engine.tasks.prune_history", "maintenance"),
        ("checks.engine.tasks.send_answer_probes", "probes"),
        ("checks.engine.tasks.read_answers", "probes"),
        ("checks.alerts.tasks.deliver_notification", "alerts"),
        ("checks.alerts.tasks.retry_pending", "alerts"),
        ("checks.alerts.tasks.send_reminders", "alerts"),
    ],
)
def test_each_task_has_its_queue(task, queue):
    assert set(app.amqp.queues) >= QUEUES
    assert app.amqp.router.route({}, task)["queue"].name == queue


def test_the_pool_and_its_size_are_in_the_app_configuration():
    assert app.conf.worker_pool == "threads"
    assert app.conf.worker_concurrency >= 2


@pytest.mark.slow
def test_alerts_and_ticks_go_on_while_every_verify_thread_hangs_on_a_portal(celery_procs, simulator, smtp_sink):
    # Eight portals whose answers trickle in for far longer than anything here waits.
    for i in range(8):
        portal = simulator_portal(simulator, f"slow{i}", HOOK, alert_emails=[])
        simulator.add_bot(f"slow{i}", code="support_bot", bot_token="tok", growth=False)
        Bot.objects.create(portal=portal, code="support_bot", bot_token="tok")
        simulator.inject_fault(f"slow{i}", "trickle", interval_s=0.5, sleep_s=120)
    # A portal whose bot is gone; not due, so only this test verifies it.
    acme = simulator_portal(simulator, "acme", HOOK)
    Bot.objects.create(
        portal=acme, code="gone_bot", bot_token="tok", next_check_at=timezone.now() + timezone.timedelta(days=1)
    )

    celery_procs.env.update(smtp_sink.env, BITRIX24_TIMEOUT="60", BOTWATCH_WORKER_CONCURRENCY="4")
    celery_procs.start_worker("w1", plain=True)
    celery_procs.start_beat()
    banner = celery_procs.log("w1")
    assert "concurrency: 4 (thread)" in banner
    assert all(f".> {queue}" in banner for queue in QUEUES), banner

    def hanging() -> int:
        return sum(simulator.stats(f"slow{i}")["in_flight"] for i in range(8))

    wait_for(lambda: hanging() >= 2, 30, "verifications hanging on the slow portals")
    # The alert: recorded here, delivered by the worker while its verify threads hang.
    verify.verify_portal(acme.pk, manual=True)
    smtp_sink.wait_for(1, timeout=20)
    assert smtp_sink.messages[0]["Subject"] == "[BotWatch] BOT_NOT_FOUND: gone_bot on acme"
    # Beat's ticks are still taken up: its heartbeat is fresh.
    beat = Heartbeat.objects.get(name="beat")
    assert (timezone.now() - beat.seen_at).total_seconds() < 15
    assert hanging() >= 1  # and the slow portals were still hanging all along
    assert Heartbeat.objects.filter(name=f"worker:w1@{socket.gethostname()}").exists()
