"""verify_portal and dispatch through the real client against the simulator over HTTP."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from checks.engine import claims as engine_claims
from checks.engine import dispatch, verify
from checks.models import Bot, Portal, Verification
from checks.status import Status
from dashboard.celery import app


def add_portal(simulator, name: str, bots: int, **sim_kwargs) -> Portal:
    simulator.add_portal(name, webhook_user_id=1, webhook_code="k3y", **sim_kwargs)
    portal = Portal.objects.create(
        name=name, url=simulator.portal_url(name), webhook_user_id=1, webhook_code="k3y", pace_rate=50, pace_burst=50
    )
    for i in range(bots):
        simulator.add_bot(
            name, code=f"bot{i}", bot_token=f"tok{i}", counters={"countMessage": 100 + i}, event_mode="webhook"
        )
        Bot.objects.create(portal=portal, code=f"bot{i}", bot_token=f"tok{i}")
    return portal


@pytest.mark.django_db
def test_claimed_portal_is_verified_in_one_batch_and_rescheduled(simulator):
    add_portal(simulator, "acme", 5)
    simulator.reset_stats()
    [(portal_id, token)] = engine_claims.claim_due_portals()
    rows = verify.verify_portal(portal_id, token)
    assert [r.status for r in rows] == [Status.OK] * 5
    assert all(r.count_message >= 100 for r in rows)
    assert simulator.stats("acme")["requests"] == 1  # one batch call for five bots
    assert all(b.next_check_at > timezone.now() for b in Bot.objects.all())
    assert engine_claims.claim_due_portals() == []


@pytest.mark.django_db
@pytest.mark.parametrize("batch_imbot", [True, False])
def test_what_the_first_batch_learns_is_kept_by_scheduled_and_manual_runs(simulator, batch_imbot):
    # A scheduled run leaves the write to its recording statement, `verify` to the client.
    scheduled = add_portal(simulator, "sched", 3, batch_imbot=batch_imbot)
    manual = add_portal(simulator, "manual", 3, batch_imbot=batch_imbot)
    [(portal_id, token)] = [c for c in engine_claims.claim_due_portals() if c[0] == scheduled.pk]
    assert len(verify.verify_portal(portal_id, token)) == 3
    assert len(verify.verify_portal(manual.pk, manual=True)) == 3
    assert set(Portal.objects.values_list("batch_supported", flat=True)) == {batch_imbot}


@pytest.mark.django_db
def test_removed_bot_is_not_found_and_the_others_stay_ok(simulator):
    portal = add_portal(simulator, "acme", 3)
    simulator.remove_bot("acme", "bot1")
    verify.verify_portal(portal.pk, manual=True)
    states = dict(Bot.objects.values_list("code", "status"))
    assert states == {"bot0": Status.OK, "bot1": Status.NOT_FOUND, "bot2": Status.OK}
    row = Verification.objects.get(bot__code="bot1")
    assert row.error_code == "BOT_NOT_FOUND" and row.manual


@pytest.mark.django_db
def test_disabled_bots_and_paused_portals_are_not_verified(simulator):
    portal = add_portal(simulator, "acme", 2)
    Bot.objects.filter(code="bot0").update(enabled=False)
    paused = add_portal(simulator, "paused", 1)
    Portal.objects.filter(pk=paused.pk).update(paused=True)
    claims = engine_claims.claim_due_portals()
    assert [pid for pid, _ in claims] == [portal.pk]
    verify.verify_portal(*claims[0])
    assert list(Verification.objects.values_list("bot__code", flat=True)) == ["bot1"]


@pytest.mark.django_db
def test_unreachable_portal_is_recorded_as_unreachable(simulator):
    portal = add_portal(simulator, "acme", 1)
    Portal.objects.filter(pk=portal.pk).update(url="http://127.0.0.1:9/acme")
    verify.verify_portal(portal.pk, manual=True)
    assert Bot.objects.get().status == Status.UNREACHABLE


@pytest.mark.django_db
def test_check_now_claims_and_enqueues_a_verification(simulator, django_capture_on_commit_callbacks):
    portal = add_portal(simulator, "acme", 2)
    Bot.objects.update(next_check_at=timezone.now() + timezone.timedelta(hours=1))
    with app.connection_for_write() as conn:
        queue = conn.SimpleQueue("verify")
        queue.clear()
        with django_capture_on_commit_callbacks(execute=True):
            assert dispatch.check_now(portal.pk) is True
        message = queue.get(timeout=5)
        message.ack()
        queue.close()
    assert message.headers["task"] == "checks.engine.tasks.verify_portal"
    args, kwargs, _ = message.decode()
    assert args[0] == portal.pk and kwargs == {"manual": True}
    assert dispatch.check_now(portal.pk) is False  # already claimed: a run is on its way
    rows = verify.verify_portal(*args, **kwargs)
    assert len(rows) == 2 and all(r.manual for r in rows)


@pytest.mark.django_db
def test_a_run_out_of_time_records_what_it_did_and_leaves_the_rest_due(simulator, monkeypatch, settings):
    portal = add_portal(simulator, "big", 60, latency_ms=700)
    settings.BITRIX24_TIMEOUT = 1.0
    # Time for one batch of 50 commands, not for a second call with its full timeout. The first
    # batch carries the portal probe's 3 commands beside 47 bots.
    monkeypatch.setattr(verify, "RUN_BUDGET", 1.6)
    [(portal_id, token)] = engine_claims.claim_due_portals()
    rows = verify.verify_portal(portal_id, token)
    assert len(rows) == 47 and {r.status for r in rows} == {Status.OK}
    now = timezone.now()
    assert Bot.objects.filter(next_check_at__lte=now).count() == 13
    portal.refresh_from_db()
    assert portal.claim_token is None and portal.next_check_at <= now
    assert [pid for pid, _ in engine_claims.claim_due_portals()] == [portal.pk]


@pytest.mark.django_db
def test_dispatch_ticks_the_heartbeat_and_enqueues_one_task_per_claimed_portal(simulator):
    from checks.models import Heartbeat

    first = add_portal(simulator, "a", 2)
    second = add_portal(simulator, "b", 1)
    engine_claims.claim_portal(second.pk)  # being verified already
    with app.connection_for_write() as conn:
        queue = conn.SimpleQueue("verify")
        queue.clear()
        assert dispatch.dispatch_due() == 1
        message = queue.get(timeout=5)
        message.ack()
        with pytest.raises(queue.Empty):
            queue.get(timeout=0.5)  # nothing for the portal already claimed
        queue.close()
    args, kwargs, _ = message.decode()
    assert args[0] == first.pk and kwargs == {"manual": False}
    assert Heartbeat.objects.filter(name="beat").exists()
    assert dispatch.dispatch_due() == 0  # claimed: not again until it is done or its lease runs out


@pytest.mark.django_db
def test_a_runs_queries_do_not_grow_with_its_bots(simulator):
    """A run reads its bots once: nothing it looks at is loaded bot by bot (a deferred column read
    per bot made a 50-bot run 200 queries and most of a worker's CPU)."""
    counts = {}
    for n in (2, 40):
        portal = add_portal(simulator, f"p{n}", n)
        verify.verify_portal(portal.pk)  # the first checks: every bot's state changes
        Bot.objects.filter(portal=portal).update(next_check_at=timezone.now())
        [(portal_id, token)] = engine_claims.claim_due_portals()
        with CaptureQueriesContext(connection) as queries:
            rows = verify.verify_portal(portal_id, token)
        assert [r.status for r in rows] == [Status.OK] * n
        counts[n] = len(queries.captured_queries)
    assert counts[40] == counts[2], counts
