"""The engine in real Celery workers and beat on Redis and PostgreSQL, against the simulator."""

import itertools
import time
from collections import Counter
from datetime import timedelta

import pytest
from django.utils import timezone

from checks.models import Bot, Heartbeat, Portal, Verification
from checks.status import Status
from tests.fixtures.celery_worker import CeleryProcesses, wait_for
from tests.fixtures.history import all_checks

pytestmark = [pytest.mark.slow]

INTERVAL = 30  # the smallest interval BotWatch allows


def add_portals(simulator, portals: int, bots: int, *, batch: bool = True, latency_ms: float = 0) -> list[Portal]:
    made = []
    for p in range(portals):
        name = f"p{p}"
        simulator.add_portal(name, webhook_user_id=1, webhook_code="k3y", latency_ms=latency_ms)
        portal = Portal.objects.create(
            name=name,
            url=simulator.portal_url(name),
            webhook_user_id=1,
            webhook_code="k3y",
            interval=INTERVAL,
            pace_rate=20,
            pace_burst=20,
            batch_supported=None if batch else False,
        )
        for b in range(bots):
            simulator.add_bot(name, code=f"bot{b}", bot_token=f"tok{b}")
            Bot.objects.create(portal=portal, code=f"bot{b}", bot_token=f"tok{b}")
        made.append(portal)
    return made


def verified_bots() -> int:
    return Bot.objects.exclude(status="pending").count()


def test_two_workers_and_beat_verify_each_bot_once_per_interval_and_see_a_removed_bot(celery_procs, simulator):
    add_portals(simulator, 3, 4)
    celery_procs.start_worker("w1", wait=False)
    celery_procs.start_worker("w2", wait=False)
    celery_procs.wait_ready(f"worker:w1@{_host()}", "w1")
    celery_procs.wait_ready(f"worker:w2@{_host()}", "w2")
    celery_procs.start_beat()
    wait_for(lambda: verified_bots() == 12, 30, "the first sweep")
    assert Heartbeat.objects.filter(name="beat").exists()  # ticks processed
    assert Heartbeat.objects.filter(name__startswith="scheduler:").exists()  # the beat process itself

    simulator.remove_bot("p0", "bot1")
    removed_at = timezone.now()
    missing = Bot.objects.get(portal__name="p0", code="bot1")
    wait_for(lambda: Bot.objects.get(pk=missing.pk).status == Status.NOT_FOUND, INTERVAL + 15, "not_found")
    row = Verification.objects.get(bot=missing, status=Status.NOT_FOUND)
    # Within one interval of the removal, plus beat's tick (5 s) and some queueing slack.
    assert (row.checked_at - removed_at).total_seconds() <= INTERVAL + 10

    wait_for(lambda: min(Counter(pk for pk, _ in all_checks()).values()) >= 2, 20, "every bot's second check")
    checks = all_checks()
    assert len({pk for pk, _ in checks}) == 12
    for bot in Bot.objects.all():
        times = [check.checked_at for pk, check in checks if pk == bot.pk]
        gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(times)]
        # Two workers, one beat: still no bot checked twice within an interval (jitter: 10 % early).
        assert min(gaps) >= INTERVAL * 0.9 - 1, (bot.code, gaps)
    assert not any(check.manual for _, check in checks)


def test_worker_killed_mid_sweep_loses_no_check(celery_procs, simulator):
    from checks.engine.tasks import dispatch_due

    celery_procs.env["BOTWATCH_CLAIM_LEASE"] = "8"
    # A run of this short lease has 6 s of calls; with the default 10 s per call only its first
    # call (the portal probe) could start, and no bot would ever be verified.
    celery_procs.env["BITRIX24_TIMEOUT"] = "2"
    # Unbatched and slow: each portal takes about 3 s, the sweep about 6 s on two threads.
    add_portals(simulator, 4, 8, batch=False, latency_ms=400)
    slots = dict(Bot.objects.values_list("pk", "next_check_at"))
    celery_procs.start_worker("w1", concurrency=2)
    dispatch_due.delay()
    wait_for(lambda: all_checks(), 20, "the first portal's checks")
    celery_procs.kill("w1")
    done_before_kill = len(all_checks())
    assert done_before_kill < 32, "the sweep finished before the kill; the test proves nothing"

    celery_procs.start_worker("w2", concurrency=4)

    def all_verified():
        dispatch_due.delay()  # what beat does every 5 s
        return len(all_checks()) >= 32

    wait_for(all_verified, 45, "the killed worker's portals to be verified again", every=2)
    time.sleep(3)  # let any late duplicate show up
    checks = all_checks()
    assert Counter(pk for pk, _ in checks) == dict.fromkeys(slots, 1)
    # Each for its own slot (an entry keeps it to the millisecond; a first check is also a whole row).
    assert {pk: check.slot for pk, check in checks} == {
        pk: slot.replace(microsecond=slot.microsecond // 1000 * 1000) for pk, slot in slots.items()
    }
    assert dict(Verification.objects.values_list("bot_id", "slot")) == slots


def test_checks_resume_after_the_broker_restarts(transactional_db, private_redis, simulator, tmp_path):
    add_portals(simulator, 1, 2)
    procs = CeleryProcesses(private_redis.url, tmp_path)
    try:
        procs.start_worker("w1")
        procs.start_beat()
        wait_for(lambda: verified_bots() == 2, 30, "the first sweep")

        private_redis.stop()
        time.sleep(3)
        private_redis.start()
        restarted_at = timezone.now()
        Bot.objects.update(next_check_at=restarted_at - timedelta(seconds=1))

        wait_for(lambda: sum(c.checked_at > restarted_at for _, c in all_checks()) == 2, 45, "checks after")
    finally:
        procs.stop_all()


def _host() -> str:
    import socket

    return socket.gethostname()
