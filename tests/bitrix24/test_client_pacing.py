"""Per-portal pacing: BotWatch never overflows the portal's own leaky bucket at default settings."""
# ruff: noqa: F811 - the fixtures imported from tests.bitrix24.helpers are parameters here

import itertools
from datetime import timedelta

import pytest
from django.utils import timezone

from checks.bitrix24.client import verify_bots
from checks.bitrix24.pacing import next_slot, reserve_slot
from checks.models import Portal
from checks.status import Status
from tests.bitrix24.helpers import fast, sim, webhook_bot, webhook_portal  # noqa: F401 - fixtures

NOW = timezone.now()


def test_gcra_allows_the_burst_then_one_interval_apart():
    tat, slots = None, []
    for _ in range(7):
        slot, tat = next_slot(tat, NOW, rate=1.0, burst=5)
        slots.append((slot - NOW).total_seconds())
    assert slots == [0, 0, 0, 0, 0, 1, 2]


def test_gcra_forgets_an_old_theoretical_arrival_time():
    slot, tat = next_slot(NOW - timedelta(hours=1), NOW, rate=2.0, burst=1)
    assert slot == NOW
    assert tat == NOW + timedelta(seconds=0.5)


@pytest.mark.django_db
def test_reservations_on_the_row_follow_the_configured_rate():
    portal = Portal.objects.create(name="p", url="https://p.example.com", pace_rate=4.0, pace_burst=2)
    slots = [reserve_slot(portal.pk) for _ in range(6)]
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(slots)]
    assert gaps[0] < 0.05  # burst of 2
    assert all(0.2 < g < 0.3 for g in gaps[2:])  # then 0.25 s apart
    portal.refresh_from_db()
    assert portal.pace_next_at >= slots[-1]


@pytest.mark.django_db
@pytest.mark.parametrize(("rate", "burst"), [(1.0, 5), (2.0, 1), (0.5, 3), (4.0, 50)])
def test_reservations_on_the_row_are_the_gcra_slots(rate, burst):
    # The database's reservation (one UPDATE) against the pure function, on a
    # fixed clock: a burst, then one interval apart, then an old TAT forgotten.
    portal = Portal.objects.create(name="p", url="https://p.example.com", pace_rate=rate, pace_burst=burst)
    clock = [NOW + timedelta(seconds=s) for s in (0, 0, 0, 0.1, 0.2, 0.2, 7, 7.5, 3600)]
    expected, tat = [], None
    for now in clock:
        slot, tat = next_slot(tat, now, rate, burst)
        expected.append(slot)
    got = [reserve_slot(portal.pk, now=lambda now=now: now) for now in clock]
    assert got == expected
    portal.refresh_from_db()
    assert portal.pace_next_at == tat


@pytest.mark.slow
@pytest.mark.django_db
@pytest.mark.usefixtures("fast")
def test_default_pacing_never_triggers_query_limit_exceeded(sim):
    # The simulator's real bucket: 2 requests/s drain and a small depth of 5.
    sim.add_portal("tight", webhook_code="tight-code-0001", rate=2.0, burst=5)
    portal = Portal.objects.create(
        name="tight", url=sim.portal_url("tight"), webhook_user_id=1, webhook_code="tight-code-0001",
        batch_supported=False,  # single calls: 20 requests
    )  # fmt: skip
    assert (portal.pace_rate, portal.pace_burst) == (1.0, 5)  # the model's defaults
    bots = [webhook_bot(sim, portal, f"bot_{i:02}") for i in range(20)]
    results = verify_bots(portal, bots)
    assert [r.status for r in results] == [Status.OK] * 20
    stats = sim.stats("tight")
    assert stats["rate_limited"] == 0
    assert stats["requests"] == 20
