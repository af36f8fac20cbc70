"""The customer status page's render time at 500 bots with 90 days of history, beside the portal page.

    .venv/bin/python bench/status_page.py
    .venv/bin/python bench/status_page.py --bots 500 --requests 30 --database-url postgres://.../bw_status_bench

Seeds its own database (default bw_status_bench, dropped and made again each run): one portal
of --bots bots, each with 89 folded days (DailyStat) and a day of checks every 5 minutes packed
per hour as the engine keeps them, a few incidents. Then renders, through Django's test client
(middleware, ORM, templates: everything but the socket), the status page with every cache
cleared before each request (cold: the first request of the hour), with only the page's own
copy expired (what a request costs every BOTWATCH_STATUS_CACHE_SECONDS: the days before today
stay drawn in the cache for an hour), the same page from the cache, and, as a baseline from the
same run, the dashboard's portal page as an admin. Prints p50 / p95 / max in milliseconds and
the SQL queries per page. Target: status page p95 under 300 ms once its page copy expired.
"""

import argparse
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.dashboard import ensure_database, setup_django  # noqa: E402


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/bw_status_bench")
    parser.add_argument("--bots", type=int, default=500)
    parser.add_argument("--requests", type=int, default=30)
    return parser.parse_args()


def seed(bots: int):
    from django.utils import timezone

    from checks.history import checklog, days
    from checks.models import Bot, CheckHour, DailyStat, Incident, Portal
    from checks.status import Status

    portal = Portal.objects.create(name="acme", url="https://acme.example.com", webhook_user_id=1,
                                   webhook_code="k", customer_name="ACME GmbH", status=Status.OK)  # fmt: skip
    made = Bot.objects.bulk_create(Bot(portal=portal, code=f"bot_{n:04}", status=Status.OK) for n in range(bots))
    today = timezone.localdate()
    DailyStat.objects.bulk_create(
        (
            DailyStat(bot=bot, day=today - timedelta(days=d), checks=288, failures=(d * 7 + i) % 97 == 0)
            for bot in made
            for i, d in enumerate(range(2, 91))
        ),
        batch_size=5000,
    )
    start = days.hour_start(timezone.now() - timedelta(hours=24))
    hours = []
    for bot in made:
        for h in range(24):
            hour = start + timedelta(hours=h)
            data = b"".join(
                checklog.encode(
                    hour=hour, checked_at=at, slot=at, status=Status.OK, duration_ms=120, counters=(1, 1, 1, 1)
                )
                for at in (hour + timedelta(minutes=5 * m) for m in range(12))
            )
            hours.append(CheckHour(bot=bot, hour=hour, data=data))
    CheckHour.objects.bulk_create(hours, batch_size=5000)
    for bot in made[:5]:
        Incident.objects.create(bot=bot, portal=portal, status=Status.NOT_FOUND, last_status=Status.NOT_FOUND,
                                state="resolved", resolved_at=timezone.now())  # fmt: skip
    return portal


def timed(client, path: str, n: int, before=None) -> tuple[list[float], int]:
    from django.db import connection, reset_queries

    samples, queries = [], 0
    for _ in range(n):
        if before:
            before()
        reset_queries()
        began = time.perf_counter()
        response = client.get(path)
        samples.append((time.perf_counter() - began) * 1000)
        assert response.status_code == 200, (path, response.status_code)
        queries = len(connection.queries)
    return samples, queries


def show(name: str, samples: list[float], queries: int) -> None:
    ordered = sorted(samples)
    p95 = ordered[max(0, round(len(ordered) * 0.95) - 1)]
    print(
        f"{name:<28} p50 {statistics.median(ordered):7.1f}  p95 {p95:7.1f}  "
        f"max {ordered[-1]:7.1f} ms  {queries} queries"
    )


def main() -> None:
    args = parse_args()
    ensure_database(args.database_url, fresh=True)
    setup_django(args.database_url)
    from django.conf import settings
    from django.core.cache import cache
    from django.core.management import call_command
    from django.test import Client

    from checks.customer import links
    from dashboard.roles import Role
    from dashboard.views.customer import cache_key
    from tests.fixtures.dashboard import make_user

    call_command("migrate", verbosity=0)
    settings.DEBUG = True  # connection.queries counts the queries
    began = time.perf_counter()
    portal = seed(args.bots)
    print(f"seeded {args.bots} bots x 90 days in {time.perf_counter() - began:.0f} s")
    token = links.issue(portal)
    client = Client()
    path = f"/status/{token}/"
    portal.refresh_from_db()
    page_key = cache_key(portal)
    timed(client, path, 2, before=cache.clear)  # warm-up
    show(f"status page, cold ({args.bots})", *timed(client, path, args.requests, before=cache.clear))
    # What a request costs once the page's own copy expired (every BOTWATCH_STATUS_CACHE_SECONDS):
    # the days before today are still drawn in the cache (for an hour); today is read again.
    show("status page, page expired", *timed(client, path, args.requests, before=lambda: cache.delete(page_key)))
    show("status page, cached", *timed(client, path, args.requests))
    admin = Client()
    admin.force_login(make_user("ada", Role.ADMIN))
    timed(admin, f"/portals/{portal.pk}/", 2)
    show("baseline: portal page", *timed(admin, f"/portals/{portal.pk}/", args.requests))


if __name__ == "__main__":
    main()
