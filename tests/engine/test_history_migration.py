"""Migration 0008 converts the history kept so far: seeded at 0007, checked at 0008."""

import itertools
from datetime import timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from checks import history_read, hourly
from checks.models import DailyStat, Verification, VerificationChange

BEFORE = [("checks", "0007_portal_health_and_waves")]
AFTER = [("checks", "0008_history_at_fleet_scale")]


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

    migrate(AFTER)

    # Every complete day is folded, with its hours.
    days = {timezone.localdate(r.checked_at) for r in rows} - {timezone.localdate(now)}
    stats = DailyStat.objects.filter(bot_id=bot_id)
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
    # Uptime reads the same after the conversion.
    for hours, (n, ok) in zip(windows, counts, strict=True):
        assert history_read.uptime_counts(bot_id, history_read.window_start(now, hours)) == [(n, ok)]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT relkind FROM pg_class WHERE oid = 'checks_verification'::regclass")
            assert cursor.fetchone()[0] == "p"
            cursor.execute("SELECT DISTINCT tableoid::regclass::text FROM checks_verification")
            assert all(name.startswith("checks_verification_p") for (name,) in cursor.fetchall())
    # New rows continue the ids: the bots' pointers never meet a reused id.
    newest = Verification.objects.create(
        bot_id=bot_id, portal_id=kept.first().portal_id, slot=now + timedelta(minutes=1), status="ok"
    )
    assert newest.pk > old_max
