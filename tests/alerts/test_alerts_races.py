"""Racing evaluations and deliveries on PostgreSQL: several threads, each with its own
connection, act on the same state change at the same moment; one email goes out."""

import threading
import time
from collections import Counter

import pytest
from django.db import connection

from checks.alerts import delivery
from checks.models import Incident, IncidentEvent, Notification
from checks.status import Status
from tests.alerts.helpers import T0, evaluate_verifications, make_bot, make_portal, minutes, record, sweep

pytestmark = [pytest.mark.django_db(transaction=True)]


def race(target, workers: int) -> list:
    """Runs target() in `workers` threads released together; returns their results."""
    barrier = threading.Barrier(workers)
    results, errors = [], []

    def run():
        try:
            barrier.wait()
            results.append(target())
        except Exception as exc:  # surfaced below: a thread's failure fails the test
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors, errors
    return results


@pytest.mark.parametrize(
    ("before", "change", "subject"),
    [
        ([], Status.NOT_FOUND, "[BotWatch] BOT_NOT_FOUND: support_bot on acme"),
        (
            [Status.RATE_LIMITED] * 3,
            Status.NOT_FOUND,
            "[BotWatch] Worse: BOT_NOT_FOUND: support_bot on acme (was QUERY_LIMIT_EXCEEDED)",
        ),
        ([Status.NOT_FOUND], Status.OK, "[BotWatch] RESOLVED: support_bot on acme (was BOT_NOT_FOUND)"),
    ],
    ids=["open", "escalate", "resolve"],
)
def test_two_workers_evaluating_one_state_change_send_one_email(smtp_sink, before, change, subject):
    bot = make_bot(make_portal())
    for i, status in enumerate(before):
        sweep([bot], status, T0 + minutes(i))
    smtp_sink.clear()
    row = record(bot, change, T0 + minutes(10))

    results = race(lambda: evaluate_verifications([row.pk], inline=True), workers=4)

    assert sorted(len(r) for r in results) == [0, 0, 0, 1]
    time.sleep(0.3)  # a duplicate would be on its way by now
    assert [m["Subject"] for m in smtp_sink.wait_for(1)] == [subject]
    assert Incident.objects.count() == 1
    # Each event of the incident's timeline happened once.
    kinds = Counter(IncidentEvent.objects.values_list("kind", flat=True))
    assert set(kinds.values()) == {1}, kinds


def test_many_workers_delivering_one_notification_send_it_once(smtp_sink):
    bot = make_bot(make_portal())
    smtp_sink.stop()
    [pk] = sweep([bot], Status.NOT_FOUND, T0)
    smtp_sink.start()

    results = race(lambda: delivery.deliver(pk), workers=8)

    assert sorted(results) == ["sent"] + ["skipped"] * 7
    time.sleep(0.3)
    assert len(smtp_sink.wait_for(1)) == 1
    assert Notification.objects.get(pk=pk).attempts == 2
