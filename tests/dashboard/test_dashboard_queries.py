"""List pages run the same, small number of SQL queries with 10 bots and with 1,000."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from checks.history import checklog, days
from checks.models import Bot, CheckHour, Incident, IncidentEvent, Portal, Verification
from checks.status import BotState, Status

pytestmark = pytest.mark.django_db

# 15: the portal page reads the channels applied to all portals (named channels live in the
# database now, no longer only in BOTWATCH_NOTIFY_URLS): one query, whatever the number of bots.
MAX_QUERIES = 15


def seed(n_bots: int, per_portal: int = 50, checks: int = 3) -> None:
    now = timezone.now()
    portals = Portal.objects.bulk_create(
        Portal(name=f"p{i:04d}", url=f"https://p{i}.example.com")
        for i in range((n_bots + per_portal - 1) // per_portal)
    )
    bots = Bot.objects.bulk_create(
        Bot(
            portal=portals[i // per_portal],
            code=f"bot_{i:05d}",
            status=BotState.NOT_FOUND if i % 10 == 0 else BotState.OK,
            status_since=now,
            last_checked_at=now,
            last_duration_ms=120,
            count_message=i,
        )
        for i in range(n_bots)
    )

    # Packed hours of checks 13 hours apart, and a failed check written whole on every tenth bot.
    def entry(at):
        return checklog.encode(hour=days.hour_start(at), checked_at=at, slot=at, status=Status.OK, counters=(1,) * 4)

    CheckHour.objects.bulk_create(
        CheckHour(bot=bot, hour=days.hour_start(at), data=entry(at))
        for bot in bots
        for at in (now - timedelta(hours=k * 13) for k in range(1, checks))
    )
    Bot.objects.filter(pk__in=[b.pk for b in bots]).update(hour_start=days.hour_start(now), hour_checks=entry(now))
    Verification.objects.bulk_create(
        Verification(bot=bot, portal_id=bot.portal_id, slot=now, checked_at=now, status=Status.NOT_FOUND)
        for bot in bots
        if bot.status == BotState.NOT_FOUND
    )
    incidents = Incident.objects.bulk_create(
        Incident(bot=bot, portal_id=bot.portal_id, status=Status.NOT_FOUND, last_status=Status.NOT_FOUND)
        for bot in bots
        if bot.status == BotState.NOT_FOUND
    )
    IncidentEvent.objects.bulk_create(IncidentEvent(incident=i, kind="opened") for i in incidents)


def count_queries(client, url: str, **kwargs) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url, **kwargs)
    assert response.status_code == 200, url
    return len(ctx.captured_queries)


def page_urls() -> dict[str, tuple[str, dict]]:
    first_portal = Portal.objects.order_by("name").first()
    return {
        "overview": (reverse("dashboard:overview"), {}),
        "overview by status": (reverse("dashboard:overview") + "?sort=status", {}),
        "overview htmx": (reverse("dashboard:overview"), {"headers": {"HX-Request": "true"}}),
        "portal list": (reverse("dashboard:portal-list"), {}),
        "alerts": (reverse("dashboard:alerts"), {}),
        "portal page": (reverse("dashboard:portal-detail", args=[first_portal.pk]), {}),
        "audit log": (reverse("dashboard:audit-log"), {}),
        "users": (reverse("dashboard:user-list"), {}),
    }


def measure(client, n_bots: int) -> dict[str, int]:
    Portal.objects.all().delete()
    seed(n_bots, per_portal=min(n_bots, 500))
    counts = {}
    for name, (url, kwargs) in page_urls().items():
        client.get(url, **kwargs)  # warm the session and the content types
        counts[name] = count_queries(client, url, **kwargs)
    return counts


def test_list_pages_run_a_bounded_number_of_queries(client, dashboard_admin):
    client.force_login(dashboard_admin)
    small = measure(client, 10)
    large = measure(client, 1000)
    assert large == small, {k: (small[k], large[k]) for k in small if small[k] != large[k]}
    assert max(large.values()) <= MAX_QUERIES, large
    print("queries per page (10 and 1,000 bots):", large)


def test_bot_page_query_count_does_not_grow_with_history(client, dashboard_admin):
    client.force_login(dashboard_admin)
    seed(3, checks=3)
    bot = Bot.objects.first()
    url = reverse("dashboard:bot-detail", args=[bot.pk])
    client.get(url)
    few = count_queries(client, url)
    now = timezone.now()
    start = days.hour_start(now)
    hours = [start - timedelta(hours=h) for h in range(14, 62)]  # two more days of packed hours
    CheckHour.objects.bulk_create(
        CheckHour(
            bot=bot,
            hour=hour,
            data=b"".join(
                checklog.encode(hour=hour, checked_at=hour + timedelta(minutes=m), slot=hour, status=Status.OK)
                for m in range(0, 60, 5)
            ),
        )
        for hour in hours
        if not CheckHour.objects.filter(bot=bot, hour=hour).exists()
    )
    Verification.objects.bulk_create(
        Verification(bot=bot, portal_id=bot.portal_id, slot=hour, checked_at=hour, status=Status.NOT_FOUND)
        for hour in hours
    )
    assert count_queries(client, url) == few <= MAX_QUERIES + 4
