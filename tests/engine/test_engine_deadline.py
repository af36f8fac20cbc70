"""A portal that keeps timing out takes at most one worker thread at a time: a run ends inside
its lease, and after the first timeout the rest of its bots get that outcome without new calls."""

import threading
import time

import pytest
from django.db import connection

from checks.engine import claims as engine_claims
from checks.engine import verify
from checks.models import Bot, Portal, Verification
from checks.status import Status
from tests.engine.test_engine_simulator import add_portal

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("transactional_db")]

LEASE = 8
TIMEOUT = 1.0


@pytest.fixture
def hopeless(simulator, settings):
    settings.BOTWATCH_CLAIM_LEASE = LEASE
    settings.BITRIX24_TIMEOUT = TIMEOUT
    settings.BITRIX24_RETRY_DELAY = 0.01
    portal = add_portal(simulator, "hopeless", 60, batch_imbot=False)
    Portal.objects.filter(pk=portal.pk).update(batch_supported=False)
    simulator.inject_fault("hopeless", "trickle", interval_s=0.3, sleep_s=120)
    simulator.reset_stats()
    return portal


def worker(stop: threading.Event, runs: list, errors: list) -> None:
    """What a worker thread does with beat's ticks: claim what is due, verify it, again."""
    try:
        while not stop.is_set():
            for portal_id, token in engine_claims.claim_due_portals():
                started = time.monotonic()
                verify.verify_portal(portal_id, token)
                runs.append(time.monotonic() - started)
            stop.wait(0.5)
    except Exception as exc:
        errors.append(exc)
    finally:
        connection.close()


def test_a_portal_that_keeps_timing_out_holds_one_thread_for_one_timeout(simulator, hopeless):
    stop, runs, errors = threading.Event(), [], []
    threads = [threading.Thread(target=worker, args=(stop, runs, errors), daemon=True) for _ in range(2)]
    for thread in threads:
        thread.start()
    time.sleep(LEASE + 2)  # past the lease: a run still going now would be claimed a second time
    stop.set()
    for thread in threads:
        thread.join(5)
    assert not any(t.is_alive() for t in threads), "a run was still going well after the lease"
    assert errors == []
    assert runs and max(runs) < LEASE
    stats = simulator.stats("hopeless")
    assert stats["max_in_flight"] == 1
    assert stats["requests"] == 1  # the rest of the run's bots were not called
    rows = Verification.objects.filter(portal=hopeless)
    assert rows.count() == 60 and set(rows.values_list("status", flat=True)) == {Status.UNREACHABLE}
    # The first batch carries the portal probe: its timeout is the portal's, and no bot is called again.
    assert all("timeout: no complete answer" in r.error_description for r in rows)
    assert rows.filter(by_portal=True).count() == 60
    assert set(Bot.objects.values_list("status", flat=True)) == {Status.UNREACHABLE}
