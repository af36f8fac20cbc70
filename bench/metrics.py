"""GET /metrics on PostgreSQL with 10,000 bots: how long a scrape takes (target: at most 1 s).

    .venv/bin/python bench/metrics.py                      # seed (once) and measure
    .venv/bin/python bench/metrics.py --database-url postgres://postgres@127.0.0.1:5432/mine --reseed

Seeds its own database (default bw_metrics_bench, created if missing, kept between runs): 200
portals of 50 bots with counters, 1 % of them degraded with an event backlog, some not found
with open incidents, and each portal's tally of 50 checks per bot. Then scrapes /metrics
through Django's whole stack (token authentication, throttle, view, prometheus_client) in this
process and prints: scrapes with the cache emptied each time, each after a sweep's worth of
checks counted into the tallies (what a scrape costs when Prometheus asks after the cache time
ran out), and scrapes answered from the cache.
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.dashboard import ensure_database, insert_select, percentile, setup_django  # noqa: E402

TARGET_S = 1.0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/bw_metrics_bench")
    parser.add_argument("--bots", type=int, default=10_000)
    parser.add_argument("--per-portal", type=int, default=50)
    parser.add_argument("--verifications-per-bot", type=int, default=50, help="checks in the tallies")
    parser.add_argument("--scrapes", type=int, default=20, help="timed scrapes of each kind")
    parser.add_argument("--reseed", action="store_true", help="drop the data and seed again")
    return parser.parse_args()


def seed(args: argparse.Namespace) -> None:
    from django.core.management import call_command
    from django.db import connection

    from bench.dashboard import _OPEN, _bot
    from checks.models import Bot, CheckTally, Incident, Portal

    call_command("migrate", verbosity=0)
    if Bot.objects.count() == args.bots and not args.reseed:
        print(f"using the seeded database ({args.bots} bots)")
        return
    started = time.monotonic()
    with connection.cursor() as cur:
        cur.execute("TRUNCATE checks_portal, checks_apitoken, checks_checktally, auth_user RESTART IDENTITY CASCADE")
    n_portals = -(-args.bots // args.per_portal)
    portals = Portal.objects.bulk_create(
        Portal(name=f"portal-{i:04d}", url=f"https://portal-{i:04d}.bitrix24.example", webhook_user_id=1)
        for i in range(n_portals)
    )
    Bot.objects.bulk_create((_bot(portals[g // args.per_portal], g) for g in range(args.bots)), batch_size=2000)
    every_hundredth = list(Bot.objects.filter(status="ok").order_by("id").values_list("id", flat=True))[::100]
    Bot.objects.filter(pk__in=every_hundredth).update(
        status="degraded",
        event_backlog_s=1800,
        problems=[{"check": "event_backlog", "detail": "oldest event 30 min old", "key": "event_backlog"}],
    )
    per_portal = args.verifications_per_bot * args.per_portal
    CheckTally.objects.bulk_create(
        CheckTally(portal_id=p.pk, counts={"ok": per_portal - 5, "unreachable": 4, "not_found": 1}) for p in portals
    )
    insert_select(Incident, _OPEN, "FROM checks_bot WHERE status IN ('not_found', 'unreachable')")
    with connection.cursor() as cur:
        cur.execute("ANALYZE")
    print(f"seeded {n_portals} portals, {args.bots} bots in {time.monotonic() - started:.0f} s")


def add_sweep() -> None:
    """A check of every bot counted into its portal's tally, as the runs of a sweep between two scrapes do."""
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute(
            "UPDATE checks_checktally t SET updated_at = now(), counts = jsonb_set(t.counts, '{ok}', to_jsonb("
            "(t.counts ->> 'ok')::bigint + (SELECT count(*) FROM checks_bot b WHERE b.portal_id = t.portal_id)))"
        )


def scrape(client, token: str) -> tuple[float, int]:
    started = time.perf_counter()
    response = client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    elapsed = time.perf_counter() - started
    assert response.status_code == 200, response.content[:300]
    return elapsed, len(response.content)


def main() -> None:
    args = parse_args()
    ensure_database(args.database_url)
    setup_django(args.database_url)
    seed(args)
    from django.core.cache import cache
    from django.test import Client

    from checks.history.tally import verification_totals
    from checks.models import ApiToken, Bot

    token = ApiToken.issue("bench", "read")[1]
    client = Client()
    cache.clear()
    print(f"{Bot.objects.count()} bots, {sum(verification_totals().values())} checks in the tallies")
    print(f"load average: {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")
    _, size = scrape(client, token)
    cold = []
    for _ in range(args.scrapes):
        add_sweep()
        cache.clear()
        cold.append(scrape(client, token)[0])
    cached = [scrape(client, token)[0] for _ in range(args.scrapes)]
    lines = client.get("/metrics", headers={"Authorization": f"Bearer {token}"}).content.count(b"\n")
    print(f"text: {size / 1024:.0f} KB, {lines} lines")
    print(f"{'scrape':<44} {'p50 s':>7} {'p95 s':>7} {'max s':>7}  target")
    rows = [
        ("cache empty, a sweep counted before each", cold),
        ("from the cache", cached),
    ]
    for name, times in rows:
        verdict = (
            "" if name == "from the cache" else f"<= {TARGET_S:g} s: {'met' if max(times) <= TARGET_S else 'MISSED'}"
        )
        print(
            f"{name:<44} {statistics.median(times):>7.3f} {percentile(times, 95):>7.3f} {max(times):>7.3f}  {verdict}"
        )


if __name__ == "__main__":
    main()
