"""Beat's tick claims no more portals than the live workers can verify besides their reserved
threads, and the portals that waited longest come first."""

from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from checks.engine import claims, dispatch, heartbeats, tasks
from checks.models import Bot, Heartbeat, Portal

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_broker(monkeypatch):
    sent = []
    monkeypatch.setattr(dispatch, "enqueue_verification", lambda pid, token, **kw: sent.append(pid))
    return sent


def due_portals(n: int, *, minutes_ago=lambda i: 1) -> list[Portal]:
    portals = []
    for i in range(n):
        portal = Portal.objects.create(
            name=f"p{i}", url=f"https://p{i}.example.com", webhook_user_id=1, webhook_code="x"
        )
        Bot.objects.create(
            portal=portal, code="b", bot_token="t", next_check_at=timezone.now() - timedelta(minutes=minutes_ago(i))
        )
        portals.append(portal)
    return portals


def worker(name: str, capacity: int, seen_ago: float = 0) -> None:
    Heartbeat.objects.create(
        name=f"worker:{name}", seen_at=timezone.now() - timedelta(seconds=seen_ago), capacity=capacity
    )


def test_a_tick_claims_no_more_than_the_workers_capacity(no_broker):
    due_portals(5)
    worker("a", 2)
    worker("gone", 10, seen_ago=300)  # not heard of for minutes: counts for nothing
    assert dispatch.dispatch_due() == 2
    assert dispatch.dispatch_due() == 0  # both still in flight (queued or running)
    assert Heartbeat.objects.filter(name="beat").exists()  # the tick itself still counts
    Portal.objects.filter(claim_token__isnull=False).update(claim_token=None, claimed_until=None)
    Bot.objects.filter(portal__in=no_broker).update(next_check_at=timezone.now() + timedelta(minutes=5))
    assert dispatch.dispatch_due() == 2
    assert len(set(no_broker)) == 4


def test_without_worker_capacity_every_due_portal_is_claimed(no_broker):
    due_portals(5)
    Heartbeat.objects.create(name="worker:old-release")  # no capacity reported
    assert heartbeats.free_capacity(timezone.now()) is None
    assert dispatch.dispatch_due() == 5


def test_the_portal_due_longest_is_claimed_first_whatever_its_id():
    portals = due_portals(3, minutes_ago=lambda i: 1 + 10 * i)  # the newest portal waited longest
    assert claims.due_portal_ids(timezone.now(), limit=1) == [portals[2].pk]


def test_a_worker_reports_its_threads_but_the_reserved_ones_and_none_without_the_verify_queue(settings):
    settings.BOTWATCH_RESERVED_THREADS = 2

    def consumer(concurrency: int, queues: set[str]):
        app = SimpleNamespace(amqp=SimpleNamespace(queues=SimpleNamespace(consume_from=dict.fromkeys(queues))))
        return SimpleNamespace(app=app, controller=SimpleNamespace(concurrency=concurrency))

    assert tasks.verify_capacity(consumer(8, {"verify", "alerts", "ticks"})) == 6
    assert tasks.verify_capacity(consumer(2, {"verify"})) == 1  # never none at all
    assert tasks.verify_capacity(consumer(8, {"alerts", "ticks"})) == 0


def test_a_finished_run_makes_room_for_the_next_due_portal(no_broker):
    due_portals(3)
    worker("a", 1)
    assert dispatch.dispatch_due() == 1
    assert dispatch.refill() == 0  # no room yet: the first run is in flight
    later = timezone.now() + timedelta(minutes=5)  # what the run's recording leaves
    Portal.objects.filter(claim_token__isnull=False).update(claim_token=None, claimed_until=None, next_check_at=later)
    Bot.objects.filter(portal__in=no_broker).update(next_check_at=timezone.now() + timedelta(minutes=5))
    assert dispatch.refill() == 1
    assert len(set(no_broker)) == 2


def test_a_refill_reads_the_portals_own_next_check_and_never_every_bot(no_broker):
    # At 100,000 bots a scan of every bot's next check cost PostgreSQL ~0.1 s, and every
    # finished run refills: the scans alone kept two cores busy at 17 runs a second.
    due_portals(3)
    worker("a", 1)
    assert dispatch.dispatch_due() == 1
    Portal.objects.filter(claim_token__isnull=False).update(
        claim_token=None, claimed_until=None, next_check_at=timezone.now() + timedelta(minutes=5)
    )
    with CaptureQueriesContext(connection) as queries:
        assert dispatch.refill() == 1
    assert not [q["sql"] for q in queries if Bot._meta.db_table in q["sql"]]
    assert len(set(no_broker)) == 2


def test_a_bot_made_due_on_a_portal_checked_lately_is_found_by_the_next_tick(no_broker):
    (portal,) = due_portals(1)
    Portal.objects.update(next_check_at=timezone.now() + timedelta(minutes=5))  # as its last run left it
    worker("a", 4)
    assert dispatch.refill() == 0  # the portal's own next check is minutes away
    assert dispatch.dispatch_due() == 1  # the tick reads the bots
    assert no_broker == [portal.pk]


def test_a_tick_with_more_due_portals_than_its_bound_reaches_them_all_over_the_next_ticks(no_broker, monkeypatch):
    monkeypatch.setattr(dispatch, "CLAIM_LIMIT", 2)
    due_portals(5)  # no worker reports its capacity: the bound is what holds a tick back
    claimed = []
    for _ in range(3):
        claimed.append(dispatch.dispatch_due())
        # The tick's runs finish: their portals and bots are next due one interval on.
        later = timezone.now() + timedelta(minutes=5)
        Portal.objects.filter(claim_token__isnull=False).update(
            claim_token=None, claimed_until=None, next_check_at=later
        )
        Bot.objects.filter(portal__in=no_broker).update(next_check_at=later)
    assert claimed == [2, 2, 1]
    assert sorted(no_broker) == sorted(Portal.objects.values_list("pk", flat=True))
