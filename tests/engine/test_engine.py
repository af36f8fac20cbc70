"""The engine's claiming, scheduling and recording, without a worker (results handed in)."""

import random
import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from checks.bitrix24.types import BotResult
from checks.engine import claims, recording, runs, verify
from checks.models import Bot, Portal, Verification
from checks.status import ResponseFormat, Status

COUNTERS = {"countMessage": 10, "countCommand": 2, "countChat": 3, "countUser": 4}


def make_portal(name="acme", **kwargs) -> Portal:
    kwargs.setdefault("url", f"http://127.0.0.1:9/{name}")
    return Portal.objects.create(name=name, webhook_user_id=1, webhook_code="k3y", **kwargs)


def make_bots(portal: Portal, n: int, **kwargs) -> list[Bot]:
    return [Bot.objects.create(portal=portal, code=f"bot{i}", bot_token=f"tok{i}", **kwargs) for i in range(n)]


def ok(bot: Bot, count=10) -> BotResult:
    return BotResult(
        bot_pk=bot.pk,
        status=Status.OK,
        http_status=200,
        duration_ms=12,
        response_format=ResponseFormat.EXTENDED,
        counters={**COUNTERS, "countMessage": count},
        fields={"id": 456, "code": bot.code},
        time={"operating": 0.5},
    )


def failed(bot: Bot, status=Status.SERVER_ERROR, code="INTERNAL_SERVER_ERROR") -> BotResult:
    return BotResult(bot_pk=bot.pk, status=status, error_code=code, error_description="boom", http_status=500)


def run_with(portal: Portal, results_for, token=None, manual=False):
    run = runs.start_run(portal.pk, token, manual=manual)
    return recording.record_results(run, [results_for(b) for b in run.bots])


@pytest.mark.django_db
class TestClaiming:
    def test_only_one_of_two_claims_wins_until_the_lease_expires(self):
        portal = make_portal()
        now = timezone.now()
        assert claims.claim_portal(portal.pk, now) is not None
        assert claims.claim_portal(portal.pk, now) is None
        later = now + timedelta(seconds=claims.lease_seconds() + 1)
        assert claims.claim_portal(portal.pk, later) is not None

    def test_paused_portal_is_never_claimed(self):
        portal = make_portal(paused=True)
        make_bots(portal, 1)
        assert claims.claim_portal(portal.pk) is None
        assert claims.due_portal_ids(timezone.now()) == []

    def test_due_portals_have_an_enabled_due_bot_and_no_live_lease(self):
        now = timezone.now()
        due = make_portal("due")
        make_bots(due, 2)
        later = make_portal("later")
        make_bots(later, 1, next_check_at=now + timedelta(minutes=5))
        disabled = make_portal("disabled")
        make_bots(disabled, 1, enabled=False)
        leased = make_portal("leased")
        make_bots(leased, 1)
        claims.claim_portal(leased.pk, now)
        assert claims.due_portal_ids(timezone.now()) == [due.pk]

    def test_claim_due_portals_claims_each_once(self):
        for name in ("a", "b", "c"):
            make_bots(make_portal(name), 2)
        first = claims.claim_due_portals()
        assert len(first) == 3
        assert claims.claim_due_portals() == []


@pytest.mark.django_db(transaction=True)
def test_concurrent_claims_on_postgres_have_exactly_one_winner():
    portal = make_portal()
    make_bots(portal, 1)
    winners, barrier = [], threading.Barrier(8)

    def claim():
        barrier.wait()
        try:
            if claims.claim_portal(portal.pk) is not None:
                winners.append(1)
        finally:
            connection.close()

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(winners) == 1


class TestScheduling:
    def test_next_due_is_within_ten_percent_early(self):
        now = timezone.now()
        rng = random.Random(1)
        gaps = [(claims.next_due(now, 300, rng) - now).total_seconds() for _ in range(500)]
        assert min(gaps) >= 270 and max(gaps) <= 300
        assert max(gaps) - min(gaps) > 20  # spread, not one instant

    @pytest.mark.django_db
    def test_interval_has_a_floor_of_thirty_seconds(self, settings):
        settings.BOTWATCH_CHECK_INTERVAL = 300
        assert claims.interval_for(Portal(interval=5)) == 30
        assert claims.interval_for(Portal(interval=None)) == 300
        assert claims.interval_for(Portal(interval=60)) == 60


@pytest.mark.django_db
class TestRecording:
    def test_one_row_per_bot_for_its_slot_and_state_in_the_same_write(self):
        portal = make_portal(interval=60)
        bots = make_bots(portal, 3)
        slots = {b.pk: b.next_check_at for b in bots}
        token = claims.claim_portal(portal.pk)
        rows = run_with(portal, ok, token=token)
        assert len(rows) == 3
        for bot in bots:
            bot.refresh_from_db()
            row = Verification.objects.get(bot=bot)
            assert row.slot == slots[bot.pk]
            assert row.status == Status.OK and row.counters["countMessage"] == 10 and row.operating == 0.5
            assert bot.status == Status.OK and bot.status_since == row.checked_at
            assert bot.last_verification_id == bot.last_ok_verification_id == row.pk
            assert bot.count_message == 10 and bot.remote_id == 456
            gap = (bot.next_check_at - row.checked_at).total_seconds()
            assert 54 - 1 <= gap <= 60
        portal.refresh_from_db()
        assert portal.claim_token is None and portal.claimed_until is None
        assert portal.next_check_at == min(b.next_check_at for b in Bot.objects.filter(portal=portal))

    def test_redelivered_task_of_a_finished_claim_writes_nothing(self):
        portal = make_portal()
        make_bots(portal, 2)
        token = claims.claim_portal(portal.pk)
        run_with(portal, ok, token=token)
        assert runs.start_run(portal.pk, token, manual=False) is None
        assert verify.verify_portal(portal.pk, token) == []
        assert Verification.objects.count() == 2

    def test_a_slot_already_recorded_is_not_recorded_again(self):
        portal = make_portal()
        bots = make_bots(portal, 2)
        token = claims.claim_portal(portal.pk)
        run = runs.start_run(portal.pk, token, manual=False)
        # Another run (whose lease this one outlived) recorded one of the slots first.
        Verification.objects.create(bot=bots[0], portal=portal, slot=run.slots[bots[0].pk], status=Status.OK)
        assert recording.record_results(run, [ok(b) for b in run.bots]) == []
        assert Verification.objects.count() == 1
        bots[1].refresh_from_db()
        assert bots[1].status == "pending"

    def test_a_lost_lease_drops_the_results(self):
        portal = make_portal()
        make_bots(portal, 1)
        token = claims.claim_portal(portal.pk)
        run = runs.start_run(portal.pk, token, manual=False)
        Portal.objects.filter(pk=portal.pk).update(claim_token=None, claimed_until=None)
        assert claims.claim_portal(portal.pk) is not None  # someone else now
        with pytest.raises(claims.LostClaim):
            recording.record_results(run, [ok(b) for b in run.bots])
        assert Verification.objects.count() == 0

    def test_failure_streak_counts_by_status_and_ok_resets_it(self):
        portal = make_portal()
        (bot,) = make_bots(portal, 1)
        run_with(portal, failed, manual=True)
        run_with(portal, failed, manual=True)
        run_with(portal, lambda b: failed(b, Status.UNREACHABLE, ""), manual=True)
        bot.refresh_from_db()
        assert bot.status == Status.UNREACHABLE
        assert bot.consecutive_failures == 3
        assert bot.failure_streak == {"server_error": 2, "unreachable": 1}
        first_bad = Verification.objects.filter(bot=bot).order_by("checked_at").first()
        run_with(portal, ok, manual=True)
        bot.refresh_from_db()
        assert bot.consecutive_failures == 0 and bot.failure_streak == {}
        assert bot.status_since > first_bad.checked_at

    def test_status_since_stays_while_the_status_stays(self):
        portal = make_portal()
        (bot,) = make_bots(portal, 1)
        run_with(portal, ok, manual=True)
        bot.refresh_from_db()
        since = bot.status_since
        run_with(portal, lambda b: ok(b, 11), manual=True)
        bot.refresh_from_db()
        assert bot.status_since == since and bot.count_message == 11

    def test_failure_keeps_the_last_good_counters(self):
        portal = make_portal()
        (bot,) = make_bots(portal, 1)
        run_with(portal, ok, manual=True)
        good = Verification.objects.get()
        run_with(portal, lambda b: failed(b, Status.NOT_FOUND, "BOT_NOT_FOUND"), manual=True)
        bot.refresh_from_db()
        assert bot.status == Status.NOT_FOUND and bot.last_error == "BOT_NOT_FOUND"
        assert bot.count_message == 10 and bot.last_ok_verification_id == good.pk
        assert bot.last_verification_id != good.pk

    def test_manual_run_verifies_every_enabled_bot_and_keeps_the_schedule(self):
        portal = make_portal()
        later = timezone.now() + timedelta(hours=1)
        make_bots(portal, 2, next_check_at=later)
        Bot.objects.create(portal=portal, code="off", bot_token="t", enabled=False)
        rows = run_with(portal, ok, manual=True)
        assert len(rows) == 2 and all(r.manual for r in rows)
        assert set(Bot.objects.filter(enabled=True).values_list("next_check_at", flat=True)) == {later}

    def test_claimed_run_takes_only_due_bots_and_those_due_soon(self, settings):
        settings.BOTWATCH_CHECK_INTERVAL = 400
        portal = make_portal()
        now = timezone.now()
        due = Bot.objects.create(portal=portal, code="due", bot_token="t")
        soon = Bot.objects.create(portal=portal, code="soon", bot_token="t", next_check_at=now + timedelta(seconds=60))
        Bot.objects.create(portal=portal, code="later", bot_token="t", next_check_at=now + timedelta(seconds=300))
        run = runs.start_run(portal.pk, claims.claim_portal(portal.pk), manual=False)
        assert {b.pk for b in run.bots} == {due.pk, soon.pk}

    def test_paused_portal_releases_its_claim_and_verifies_nothing(self):
        portal = make_portal()
        make_bots(portal, 1)
        token = claims.claim_portal(portal.pk)
        Portal.objects.filter(pk=portal.pk).update(paused=True)
        assert verify.verify_portal(portal.pk, token) == []
        portal.refresh_from_db()
        assert portal.claim_token is None and Verification.objects.count() == 0

    def test_deleted_bot_is_skipped_not_failing_the_others(self):
        portal = make_portal()
        bots = make_bots(portal, 2)
        run = runs.start_run(portal.pk, None, manual=True)
        Bot.objects.filter(pk=bots[0].pk).delete()
        rows = recording.record_results(run, [ok(b) for b in run.bots])
        assert [r.bot_id for r in rows] == [bots[1].pk]


@pytest.mark.django_db
def test_brief_answer_updates_fields_and_users_but_keeps_the_counters():
    portal = make_portal()
    (bot,) = make_bots(portal, 1)
    run_with(portal, ok, manual=True)
    brief = BotResult(
        bot_pk=bot.pk,
        status=Status.NOT_OWNER,
        http_status=200,
        response_format=ResponseFormat.BRIEF,
        fields={"id": 789, "code": bot.code, "type": "bot"},
        users=[{"id": 789, "bot": True}],
    )
    run_with(portal, lambda b: brief, manual=True)
    bot.refresh_from_db()
    assert bot.status == Status.NOT_OWNER and bot.failure_streak == {"not_owner": 1}
    assert bot.count_message == 10 and bot.remote_id == 789
    assert bot.fields["type"] == "bot" and bot.users == [{"id": 789, "bot": True}]


@pytest.mark.django_db
def test_only_failures_and_recoveries_go_to_alerting():
    portal = make_portal()
    (bot,) = make_bots(portal, 1)

    def alerted(result_for) -> bool:
        run = runs.start_run(portal.pk, None, manual=True)
        result = result_for(bot)
        row = recording.build_verification(run, bot, result, timezone.now())
        rows, for_alerting, _ = recording.write_results(run, [row], [result], timezone.now())
        assert [r.pk for r in rows] == [Verification.objects.latest("pk").pk]
        return for_alerting == [rows[0].pk]

    assert not alerted(ok)  # first ok: nothing to resolve
    assert not alerted(ok)  # steady state
    assert alerted(failed)
    assert alerted(failed)  # thresholds count every failure
    assert alerted(ok)  # recovery resolves
    assert not alerted(ok)
