"""Migrations that convert the history kept so far: 0008 (seeded at 0007, checked at 0008 and again
once 0009 has packed it) and 0009 (seeded at 0008, checked at 0009)."""

import itertools
from datetime import timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from checks import history_read, hourly
from checks.models import Bot, CheckHour, CheckTally, Verification

BEFORE = [("checks", "0007_portal_health_and_waves")]
AFTER = [("checks", "0008_history_at_fleet_scale")]
PACKED = [("checks", "0009_packed_check_hours")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.fixture
def at_0007(transactional_db):
    apps = migrate(BEFORE)
    yield apps
    migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())


def seed(apps, now):
    portal = apps.get_model("checks", "Portal").objects.create(
        name="acme", url="https://acme.example", webhook_user_id=1, webhook_code="k"
    )
    bot = apps.get_model("checks", "Bot").objects.create(portal=portal, code="alpha", bot_token="t")
    verification = apps.get_model("checks", "Verification")
    rows = []
    at = now - timedelta(days=5)
    step = 0
    while at < now:
        status = "not_found" if 40 <= step % 100 < 50 else "ok"
        rows.append(
            verification(
                bot=bot, portal=portal, slot=at, checked_at=at, status=status, duration_ms=step % 7,
                count_message=step, count_command=1, count_chat=2, count_user=3, fields={"id": 7, "type": "B"},
            )
        )  # fmt: skip
        at += timedelta(minutes=10)
        step += 1
    verification.objects.bulk_create(rows)
    last = verification.objects.order_by("-pk").first()
    apps.get_model("checks", "Bot").objects.filter(pk=bot.pk).update(last_verification=last)
    return bot.pk, rows


def test_existing_history_is_folded_kept_as_changes_and_the_window_stays_raw(at_0007):
    now = timezone.now()
    bot_id, rows = seed(at_0007, now)
    windows = [24, 24 * 7]
    counts = []
    for hours in windows:
        start = history_read.window_start(now, hours)
        seeded = [r for r in rows if r.checked_at >= start]
        counts.append((len(seeded), sum(r.status == "ok" for r in seeded)))
    old_max = max(r.pk for r in rows)

    apps = migrate(AFTER)
    Verification = apps.get_model("checks", "Verification")
    VerificationChange = apps.get_model("checks", "VerificationChange")

    # Every complete day is folded, with its hours.
    days = {timezone.localdate(r.checked_at) for r in rows} - {timezone.localdate(now)}
    stats = apps.get_model("checks", "DailyStat").objects.filter(bot_id=bot_id)
    assert set(stats.values_list("day", flat=True)) == days
    assert all(len(hourly.unpack(s.hours, None)) == hourly.hours_in(s.day) for s in stats)
    assert sum(s.checks for s in stats) == sum(1 for r in rows if timezone.localdate(r.checked_at) in days)
    # Raw rows remain from the start of the raw window's UTC day; older changes became change rows.
    kept = Verification.objects.filter(bot_id=bot_id)
    assert 0 < kept.count() < len(rows)
    first_raw = kept.order_by("slot").first().slot
    assert first_raw <= now - timedelta(hours=24)
    changes = VerificationChange.objects.filter(bot_id=bot_id)
    older = sorted(r.checked_at for r in rows if r.slot < first_raw)
    flips = [older[0]] + [
        r.checked_at for prev, r in itertools.pairwise(rows) if r.slot < first_raw and r.status != prev.status
    ]
    assert sorted(changes.values_list("checked_at", flat=True)) == sorted(flips)
    assert kept.filter(changed=True).count() == sum(
        1 for prev, r in itertools.pairwise(rows) if r.slot >= first_raw and r.status != prev.status
    )
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT relkind FROM pg_class WHERE oid = 'checks_verification'::regclass")
            assert cursor.fetchone()[0] == "p"
            cursor.execute("SELECT DISTINCT tableoid::regclass::text FROM checks_verification")
            assert all(name.startswith("checks_verification_p") for (name,) in cursor.fetchall())
    # New rows continue the ids: the bots' pointers never meet a reused id.
    newest = Verification.objects.create(
        bot_id=bot_id, portal_id=kept.first().portal_id, slot=now + timedelta(minutes=1), status="ok", checked_at=now
    )
    assert newest.pk > old_max
    newest.delete()
    # Packed by 0009, the history reads the same: uptime over whole hours from the folded days and
    # the packed checks after them.
    migrate(PACKED)
    for hours, (n, ok) in zip(windows, counts, strict=True):
        assert history_read.uptime_counts(bot_id, history_read.window_start(now, hours)) == [(n, ok)]


@pytest.fixture
def at_0008(transactional_db):
    apps = migrate(AFTER)
    yield apps
    migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())


def test_raw_rows_become_packed_hours_and_only_those_with_something_to_say_stay_whole(at_0008):
    apps = at_0008
    now = timezone.now().replace(microsecond=0)
    portal = apps.get_model("checks", "Portal").objects.create(
        name="acme", url="https://acme.example", webhook_user_id=1, webhook_code="k"
    )
    bot = apps.get_model("checks", "Bot").objects.create(portal=portal, code="alpha", bot_token="t")
    verification = apps.get_model("checks", "Verification")
    plan = []  # (minutes ago, status, changed, manual, redirect): 10 hours of checks every 10 minutes
    for step in range(60):
        status = "not_found" if 20 <= step < 24 else "ok"
        changed = step in (0, 20, 24)
        plan.append((600 - 10 * step, status, changed, step == 40, "https://new.example" if step == 45 else ""))
    rows = verification.objects.bulk_create(
        verification(
            bot=bot, portal=portal, slot=now - timedelta(minutes=ago),
            checked_at=now - timedelta(minutes=ago, seconds=-1),
            status=status, changed=changed, manual=manual, redirect_url=redirect, duration_ms=ago,
            http_status=200 if status == "ok" else 400, response_format="extended" if status == "ok" else "",
            error_code="" if status == "ok" else "BOT_NOT_FOUND",
            count_message=None if status != "ok" else 1000 + ago, count_command=1, count_chat=2, count_user=3,
        )
        for ago, status, changed, manual, redirect in plan
    )  # fmt: skip
    steady = [r for r in rows if r.status == "ok" and not (r.changed or r.manual or r.redirect_url)]
    apps.get_model("checks", "Bot").objects.filter(pk=bot.pk).update(
        last_verification=steady[-1], last_ok_verification=rows[45]
    )
    apps.get_model("checks", "VerificationTally").objects.create(pk=1, last_id=rows[9].pk, counts={"ok": 500})

    migrate(PACKED)

    checks = history_read.bot_checks(bot.pk)
    assert [(c.checked_at, c.status, c.manual) for c in checks] == [
        (r.checked_at.replace(microsecond=0), r.status, r.manual) for r in rows
    ]
    assert [c.counters[0] if c.counters else None for c in checks] == [r.count_message for r in rows]
    assert [c.slot for c in checks] == [r.slot for r in rows]
    hours = {hourly.hour_start(r.checked_at) for r in rows}
    assert set(CheckHour.objects.filter(bot_id=bot.pk).values_list("hour", flat=True)) == hours
    # What stays whole: the failures, the changes, the manual and the redirected checks.
    kept = set(Verification.objects.filter(bot_id=bot.pk).values_list("pk", flat=True))
    assert kept == {r.pk for r in rows} - {r.pk for r in steady}
    assert len(kept) == 8  # the first, four failures, the recovery, the manual and the redirected
    moved = Bot.objects.get(pk=bot.pk)
    assert moved.last_verification_id is None and moved.last_ok_verification_id == rows[45].pk
    # The totals so far and the rows not yet counted: portal 0's tally.
    assert CheckTally.objects.get(portal_id=0).counts == {"ok": 500 + 46, "not_found": 4}
    # The history table shows every check, whole rows with their details.
    table = list(history_read.history(bot.pk))
    assert len(table) == 60 and [row.error_code for row in table if row.status == "not_found"] == ["BOT_NOT_FOUND"] * 4
